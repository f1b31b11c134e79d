# language: sv
@R34
Egenskap: Gallring av personuppgifter
  Som arkivarie vill jag att socialtjänstens personakter gallras fem år efter sista anteckningen,
  som lagen säger, att de undantag som lagen beslutat om och rättsliga spärrar respekteras,
  och att varje gallring är en beslutad och dokumenterad åtgärd.

  Bakgrund:
    Givet att gallringen följer riktlinjen "socialtjanst"

  # ---- när personuppgifterna ska gallras ---------------------------------------------------

  Scenario: Ett ärende som avslutades för fem år och en dag sedan ska gallras
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2030-03-04
    Så ska ärendets personuppgifter gallras från 2030-03-04

  Scenario: Ett ärende som avslutades för exakt fem år sedan ska inte gallras ännu
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2030-03-03
    Så ska ärendets personuppgifter inte gallras ännu
    Och ärendets personuppgifter gallras tidigast 2030-03-04

  Scenario: Uppgifter om den som är född den 15:e i en månad bevaras för forskning
    Givet ett avslutat SIP-ärende för en person född 1980-05-15 med sista anteckningen 2025-03-03
    Och att dagens datum är 2031-01-01
    Så ska ärendets personuppgifter inte gallras
    Och undantaget är att personen är född på en forskningsdag

  Scenario: Ett ärende med rättslig spärr gallras inte
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2029-06-01
    Och att granskaren har spärrat ärendet med motiveringen "Tillsyn av IVO pågår"
    Och att dagens datum är 2031-01-01
    Så ska ärendets personuppgifter inte gallras
    Och undantaget är att ärendet är spärrat

  # ---- gallringen är ett beslut -----------------------------------------------------------

  Scenario: Arkivarien gallrar ett ärende som ska gallras
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2030-03-04
    När arkivarien gallrar ärendets personuppgifter enligt beslutet "KS 2030/12"
    Så godtas det
    Och ärendets personuppgifter är gallrade 2030-03-04 enligt beslutet "KS 2030/12" och riktlinjen "socialtjanst" version 1
    Och personens namn visas som "uppgifter gallrade 2030-03-04, beslut KS 2030/12"
    När kommunens samordnare lämnar en kopia av planen till personen själv
    Så avvisas det med regel "R34"
    Och felet gäller fältet "case_id"

  Scenario: En gallring utan beslut avvisas
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2030-03-04
    När arkivarien gallrar ärendets personuppgifter enligt beslutet ""
    Så avvisas det med regel "R34"
    Och felet gäller fältet "decision"
    Och ärendets personuppgifter är inte gallrade

  Scenario: Ett ärende som inte ska gallras ännu gallras bara med en motivering
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2030-03-03
    När arkivarien gallrar ärendets personuppgifter enligt beslutet "KS 2030/12"
    Så avvisas det med regel "R34"
    Och felet gäller fältet "override_reason"
    Och ärendets personuppgifter är inte gallrade
    När arkivarien gallrar ärendets personuppgifter enligt beslutet "KS 2030/12" med motiveringen "Den enskilde har begärt radering"
    Så godtas det
    Och gallringen är motiverad med "Den enskilde har begärt radering"

  Scenario: Ett spärrat ärende gallras inte
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2029-06-01
    Och att granskaren har spärrat ärendet med motiveringen "Tillsyn av IVO pågår"
    Och att dagens datum är 2031-01-01
    När arkivarien gallrar ärendets personuppgifter enligt beslutet "KS 2030/12"
    Så avvisas det med regel "R34"
    Och felet gäller fältet "case_id"
    Och ärendets personuppgifter är inte gallrade

  Scenario: När spärren hävs kan ärendet gallras
    Givet ett avslutat SIP-ärende för en person född 1980-03-04 med sista anteckningen 2025-03-03
    Och att dagens datum är 2029-06-01
    Och att granskaren har spärrat ärendet med motiveringen "Tillsyn av IVO pågår"
    Och att dagens datum är 2031-01-01
    När granskaren häver spärren med motiveringen "Tillsynen är avslutad"
    Så godtas det
    Och ska ärendets personuppgifter gallras från 2030-03-04
