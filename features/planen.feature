# language: sv
Egenskap: Planen
  Som kontaktperson vill jag att planen som fastställs på SIP-mötet säger
  vilka behov och mål personen har, vem som gör vad, vem som har det övergripande ansvaret,
  hur insatserna samordnas och när planen följs upp,
  och att personen och alla som var med på mötet kan få en kopia.

  Bakgrund:
    Givet att dagens datum är 2025-03-03
    Och ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen, Försäkringskassan och Arbetsförmedlingen
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen, Försäkringskassan och Arbetsförmedlingen
    Och att dagens datum är 2025-03-20

  # ---- R25: vad planen innehåller ----------------------------------------------------------

  @R25
  Scenario: Planen anger behov, mål, insatser, ansvar, samordning och uppföljning
    Givet att planen har insatsen "Arbetsträning fyra timmar i veckan" som "Arbetsförmedlingen" ansvarar för
    När kommunens samordnare fastställer planen
    Så godtas det
    Och ärendet är med fastställd plan
    Och planen anger behovet "Psykiatrisk behandling"
    Och planen anger målet "Bo kvar i egen lägenhet"
    Och planen anger att kommunen ansvarar för "Boendestöd två gånger i veckan"
    Och planen anger att regionen ansvarar för "Samtalsbehandling"
    Och planen anger att "Arbetsförmedlingen" ansvarar för "Arbetsträning fyra timmar i veckan"
    Och planen anger att kommunen har det övergripande ansvaret
    Och planen anger hur insatserna samordnas
    Och planen ska följas upp 2025-06-18

  @R25
  Scenariomall: En plan som saknar en nödvändig del avvisas
    Givet att planen <brist>
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R25"
    Och felet gäller fältet "<fält>"
    Och ärendet är kallat till möte

    Exempel:
      | brist                                                    | fält                                   |
      | saknar behov                                             | plan.needs                             |
      | saknar insatser                                          | plan.interventions                     |
      | saknar mål                                               | plan.goals                             |
      | inte beskriver hur insatserna samordnas                  | plan.coordination                      |
      | har en insats av en annan aktör utan namngiven ansvarig  | plan.interventions[2].responsible.name |

  # ---- R26: det övergripande ansvaret ---------------------------------------------------------

  @R26
  Scenario: Mötet kan lägga det övergripande ansvaret hos regionen
    Givet att regionen får det övergripande ansvaret
    När kommunens samordnare fastställer planen
    Så godtas det
    Och planen anger att regionen har det övergripande ansvaret

  @R26
  Scenario: Det övergripande ansvaret kan inte läggas på Försäkringskassan
    Givet att Försäkringskassan får det övergripande ansvaret
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R26"
    Och felet gäller fältet "plan.overall_responsibility"

  @R26
  Scenario: Planen fastställs på ett möte
    Givet ett SIP-ärende för en person som är 50 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R26"
    Och ärendet är aktivt

  @R26
  Scenario: Planen kan inte fastställas innan mötet har hållits
    Givet att kommunens samordnare har kallat till SIP-möte den 2025-04-10 och bjudit in regionen
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R26"
    Och felet gäller fältet "occurred_at"

  # ---- R27: SMARTa mål --------------------------------------------------------------------------

  @R27
  Scenario: Ett SMART mål godtas
    Givet att planens mål är "Kim går till daglig verksamhet", mäts som "Närvaro minst tre dagar i veckan", ska vara nått 2025-09-01 och är accepterat av personen
    När kommunens samordnare fastställer planen
    Så godtas det
    Och planen anger målet "Kim går till daglig verksamhet", mätt som "Närvaro minst tre dagar i veckan", senast 2025-09-01

  @R27
  Scenariomall: Ett mål som inte är SMART avvisas
    Givet att planens mål <brist>
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R27"
    Och felet gäller fältet "plan.goals[0].<fält>"

    Exempel:
      | SMART      | brist                          | fält                   |
      | specifikt  | bara är formulerat som "Bra"   | description            |
      | mätbart    | saknar mätetal                 | measure                |
      | accepterat | inte är accepterat av personen | accepted_by_individual |
      | tidsbundet | saknar måldatum                | target_date            |
      | tidsbundet | har måldatum 2025-03-20        | target_date            |

  # ---- R28: kopia av planen -------------------------------------------------------------------

  @R28
  Scenariomall: Personen och de som var på mötet får en kopia av planen
    Givet att kommunens samordnare har fastställt planen
    När kommunens samordnare lämnar en kopia av planen till <mottagare>
    Så godtas det
    Och en kopia av planen är lämnad till <mottagare>

    Exempel:
      | mottagare          |
      | personen själv     |
      | regionen           |
      | Försäkringskassan  |
      | Arbetsförmedlingen |

  @R28 @R13
  Scenario: Den som inte var med på mötet får ingen kopia
    Givet att kommunens samordnare har fastställt planen
    När kommunens samordnare lämnar en kopia av planen till närstående "Olle Karlsson"
    Så avvisas det med regel "R28"
    Och felet gäller fältet "recipient_name"

  @R28
  Scenario: Någon kopia finns inte förrän planen är fastställd
    När kommunens samordnare lämnar en kopia av planen till personen själv
    Så avvisas det med regel "R28"

  @R28 @R13 @R12
  Scenario: Efter att samtycket återkallats får bara personen själv en kopia
    Givet att kommunens samordnare har fastställt planen
    Och att personen har återkallat sitt samtycke
    När kommunens samordnare lämnar en kopia av planen till Försäkringskassan
    Så avvisas det med regel "R13"
    När kommunens samordnare lämnar en kopia av planen till personen själv
    Så godtas det
    Och en kopia av planen är lämnad till personen själv

  @R28 @R13 @R12
  Scenario: När samtycket har löpt ut lämnas ingen kopia till andra verksamheter
    Givet att kommunens samordnare har fastställt planen
    När det har blivit 2026-03-04
    Och kommunens samordnare lämnar en kopia av planen till regionen
    Så avvisas det med regel "R13"
