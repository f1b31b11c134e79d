"""Read models fed from the notification log: current plans, the deadline dashboard, case
history. See runner.py for how they are fed, rebuild.py for rebuilding beside the live ones."""
