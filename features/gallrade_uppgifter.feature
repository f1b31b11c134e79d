# language: sv
@R34
Egenskap: Gallrade personuppgifter syns som gallrade i varje läsning
  Som granskare vill jag att ett ärende vars personuppgifter har gallrats visar en markering
  i stället för uppgifterna — i ärendet, i historiken, i ärendet som det var före gallringen,
  i min export och i händelseflödet — medan processens fakta, historiken och hashkedjan står
  kvar, så att gallringen syns som det beslut den var och inget annat går förlorat.

  Bakgrund:
    Givet att dagens datum är 2025-01-13
    Och ett barn "Signe Sandberg" född 2014-06-04 med vårdnadshavaren "Gustav Gran"
    Och att kommunens samordnare har föreslagit en SIP
    Och att vårdnadshavarna har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att kommunens samordnare har kallat till SIP-möte den 2025-01-27 och bjudit in regionen
    Och att dagens datum är 2025-01-27
    Och att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-03-03
    Och att kommunens samordnare har dokumenterat avslut eftersom målen är uppnådda
    Och att regionens samordnare har dokumenterat avslut eftersom målen är uppnådda
    Och att granskaren har läst ärendet i tjänsten
    Och att dagens datum är 2030-03-04
    Och att arkivarien har gallrat ärendets personuppgifter i tjänsten enligt beslutet "KS 2030/12"

  Scenario: Ärendet visar markeringen i stället för personuppgifterna och processen står kvar
    Så visar ärendet markeringen "uppgifter gallrade 2030-03-04, beslut KS 2030/12" i stället för namnet, personnumret, vårdnadshavarens namn och planens text
    Och står ärendets process kvar: föreslaget 2025-01-13, planen fastställd 2025-01-27 och avslutat 2025-03-03 hos kommunen och regionen

  Scenario: Historiken listar fortfarande varje händelse
    Så listar historiken fortfarande varje händelse i ärendet, sist gallringen

  Scenario: Ärendet som det var före gallringen visar också markeringen
    Så visar ärendet som det var när granskaren läste det markeringen "uppgifter gallrade 2030-03-04, beslut KS 2030/12" i stället för namnet, personnumret, vårdnadshavarens namn och planens text
    Och var ärendet då avslutat

  Scenario: Granskarens export visar markeringen
    Så visar granskarens export av ärendet markeringen "uppgifter gallrade 2030-03-04, beslut KS 2030/12" i ärendet och i händelserna

  Scenario: Händelseflödet med personuppgifter visar markeringen
    Så visar händelseflödet med personuppgifter markeringen "uppgifter gallrade 2030-03-04, beslut KS 2030/12" i händelsernas personuppgifter

  Scenario: Hashkedjan håller och åtkomstloggen finns kvar efter gallringen
    Så går hashkedjan igenom "sip-ledger audit verify"
    Och har åtkomstloggen kvar sina rader om ärendet
