# language: sv
Egenskap: Samtycke
  Som samordnare vill jag att ingen planering sker utan den enskildes samtycke,
  att samtycket dokumenteras, är tidsbegränsat och kan återkallas,
  att sekretessen bara bryts mellan de verksamheter som samtycket nämner,
  och att den som tackar nej till SIP inte förlorar sin vård.

  Bakgrund:
    Givet att dagens datum är 2025-03-03

  # ---- R10: vem som samtycker ---------------------------------------------------------------

  @R10
  Scenario: Båda vårdnadshavarna samtycker för ett barn
    Givet ett barn som är 9 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att kommunens samordnare har föreslagit en SIP
    Och att vårdnadshavarna "Maria Lind" och "Jonas Lind" lämnar ett skriftligt samtycke
    När kommunens samordnare registrerar samtycket
    Så godtas det
    Och samtycket är lämnat av vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och ärendet är aktivt

  @R10
  Scenario: Det räcker inte att en av två vårdnadshavare samtycker
    Givet ett barn som är 9 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att kommunens samordnare har föreslagit en SIP
    Och att vårdnadshavaren "Maria Lind" lämnar ett skriftligt samtycke
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R10"
    Och felet nämner "individual.guardians[1]"
    Och felet nämner inte "Jonas Lind"
    Och ärendet är föreslaget

  @R10
  Scenario: Ett barn under 18 år kan inte ensamt samtycka
    Givet ett barn som är 15 år med vårdnadshavaren "Maria Lind"
    Och att kommunens samordnare har föreslagit en SIP
    Och att personen själv lämnar ett skriftligt samtycke
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R10"

  @R10
  Scenario: En ung person som fyllt 18 år samtycker själv
    Givet en ung vuxen född 2006-05-20
    Och att kommunens samordnare har föreslagit en SIP
    Och att vårdnadshavaren "Maria Lind" lämnar ett skriftligt samtycke
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R10"
    När personen själv lämnar ett skriftligt samtycke
    Och kommunens samordnare registrerar samtycket
    Så godtas det
    Och samtycket är lämnat av personen själv

  @R10
  Scenario: En förvaltare samtycker för den enskilde
    Givet en person som är 67 år
    Och att kommunens samordnare har föreslagit en SIP
    Och att förvaltaren "Bo Berg" lämnar ett skriftligt samtycke
    När kommunens samordnare registrerar samtycket
    Så godtas det
    Och samtycket är lämnat av förvaltaren "Bo Berg"

  @R10
  Scenario: Utan samtycke kallas ingen till SIP-möte
    Givet ett SIP-ärende för en person som är 45 år
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen
    Så avvisas det med regel "R10"
    Och ärendet är föreslaget

  # ---- R11: muntligt samtycke dokumenteras -----------------------------------------------

  @R11
  Scenario: Ett muntligt samtycke dokumenteras med vem som tog emot det och när
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett muntligt samtycke
    Och att samtycket togs emot av "Anna Andersson" 2025-03-03 klockan 10:15
    När kommunens samordnare registrerar samtycket
    Så godtas det
    Och samtycket är dokumenterat som muntligt, mottaget av "Anna Andersson" 2025-03-03 klockan 10:15

  @R11
  Scenario: Ett muntligt samtycke utan uppgift om vem som tog emot det avvisas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett muntligt samtycke
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R11"
    Och felet gäller fältet "received_by"

  @R11
  Scenario: Ett muntligt samtycke utan tidpunkt avvisas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett muntligt samtycke
    Och att samtycket togs emot av "Anna Andersson" men tidpunkten inte antecknades
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R11"
    Och felet gäller fältet "received_at"

  # ---- R12: tidsbegränsat och återkallbart -----------------------------------------------

  @R12
  Scenario: Samtycket gäller en begränsad tid
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett skriftligt samtycke
    Och att samtycket gäller från 2025-03-03 till och med 2025-09-03
    När kommunens samordnare registrerar samtycket
    Så godtas det
    Och ärendet har en tidsfrist för samtycke 1 med sista dag 2025-09-03 enligt regel "R12"

  @R12
  Scenariomall: Ett samtycke med orimlig giltighetstid avvisas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett skriftligt samtycke
    Och att samtycket gäller från <från> till och med <till>
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R12"
    Och felet gäller fältet "valid_until"

    Exempel:
      | från       | till       |
      | 2025-03-03 | 2025-03-01 |
      | 2025-01-01 | 2025-02-28 |

  @R12 @R10
  Scenario: När samtycket har löpt ut kan ingen kallas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett skriftligt samtycke
    Och att samtycket gäller från 2025-03-03 till och med 2025-03-31
    Och att kommunens samordnare har registrerat samtycket
    När det har blivit 2025-04-01
    Och kommunens samordnare kallar till SIP-möte den 2025-04-15 och bjuder in regionen
    Så avvisas det med regel "R10"

  @R12
  Scenario: Ett förnyat samtycke ersätter det gamla
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett skriftligt samtycke
    Och att samtycket gäller från 2025-03-03 till och med 2025-03-31
    Och att kommunens samordnare har registrerat samtycket
    När det har blivit 2025-03-28
    Och personen samtycker till informationsutbyte mellan kommunen och regionen
    Så godtas det
    Och tidsfristen för samtycke 1 är uppfylld 2025-03-28
    Och ärendet har en tidsfrist för samtycke 2 med sista dag 2026-03-28 enligt regel "R12"

  @R12 @R30
  Scenario: Samtycket kan återkallas när som helst
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen
    När det har blivit 2025-03-10
    Och personen återkallar sitt samtycke
    Så godtas det
    Och ärendet är under avslut
    Och tidsfristen för samtycke 1 är avbruten 2025-03-10
    Och ärendet har en tidsfrist för avslut hos kommunen med sista dag 2025-03-24 enligt regel "R31"
    Och ärendet har en tidsfrist för avslut hos regionen med sista dag 2025-03-24 enligt regel "R31"

  @R12
  Scenario: Det finns inget samtycke att återkalla
    Givet ett SIP-ärende för en person som är 45 år
    När personen återkallar sitt samtycke
    Så avvisas det med regel "R12"

  @R12 @R15
  Scenario: Den som redan har samtyckt återkallar samtycket i stället för att tacka nej
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När personen tackar nej till SIP
    Så avvisas det med regel "R12"
    Och ärendet är aktivt

  # ---- R13: samtycket bryter sekretessen mellan namngivna verksamheter ----------------------

  @R13
  Scenario: Samtycket anger vilka verksamheter som får utbyta information
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett skriftligt samtycke
    Och att samtycket gäller informationsutbyte mellan kommunen, regionen och Arbetsförmedlingen
    När kommunens samordnare registrerar samtycket
    Så godtas det
    Och samtycket gäller informationsutbyte mellan kommunen, regionen och Arbetsförmedlingen

  @R13
  Scenario: Ett samtycke som inte nämner några verksamheter avvisas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen själv lämnar ett skriftligt samtycke
    Och att samtycket inte anger några verksamheter
    När kommunens samordnare registrerar samtycket
    Så avvisas det med regel "R13"
    Och felet gäller fältet "organisation_ids"

  @R13 @R14
  Scenario: En verksamhet utanför samtycket kan inte bjudas in
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och Försäkringskassan
    Så avvisas det med regel "R14"
    Och felet gäller fältet "invitations[1].participant.organisation.id"

  @R13 @R10 @R09
  Scenario: Samtycket gäller bara den här planeringen
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att förslaget bekräftar det öppna ärendet
    Och att regionens samordnare har föreslagit en SIP
    När regionens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in kommunen
    Så avvisas det med regel "R10"

  # ---- R14: den enskilde bestämmer vilka som bjuds in ---------------------------------------

  @R14
  Scenario: Personen vill att en närstående bjuds in
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen och vill att närstående "Eva Karlsson" bjuds in
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och närstående "Eva Karlsson"
    Så godtas det
    Och närstående "Eva Karlsson" är inbjuden till mötet

  @R14
  Scenario: En närstående som personen inte har godkänt kan inte bjudas in
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen och vill att närstående "Eva Karlsson" bjuds in
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och närstående "Olle Karlsson"
    Så avvisas det med regel "R14"
    Och felet gäller fältet "invitations[1].participant.name"
    Och felet nämner inte "Olle Karlsson"

  # ---- R15: att tacka nej -------------------------------------------------------------------

  @R15
  Scenario: Personen tackar nej till SIP
    Givet ett SIP-ärende för en person som är 45 år
    När personen tackar nej till SIP
    Så godtas det
    Och ärendet är avböjt
    Och avböjandet är registrerat som lämnat av personen själv
    Och det finns inget öppet SIP-ärende för personen
    Och tidsfristen för start av arbetet är uppfylld 2025-03-03

  @R15
  Scenario: Vårdnadshavarna tackar nej för sitt barn
    Givet ett barn som är 9 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att kommunens samordnare har föreslagit en SIP
    När vårdnadshavarna tackar nej till SIP
    Så godtas det
    Och ärendet är avböjt
    Och avböjandet är registrerat som lämnat av vårdnadshavarna

  @R15
  Scenario: Ett avböjt ärende tar inte emot fler åtgärder
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har tackat nej till SIP
    När personen samtycker till informationsutbyte mellan kommunen och regionen
    Så avvisas det med regel "R15"
    Och ärendet är avböjt
