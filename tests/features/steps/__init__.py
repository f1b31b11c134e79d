"""The step definitions of the Gherkin features, one module per feature file
(``features/<name>.feature`` -> ``<name>.py``) and ``common.py`` for the steps several share."""
