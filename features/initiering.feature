# language: sv
Egenskap: Initiering av SIP
  Som samordnare i kommunen eller regionen
  vill jag att alla som ser ett behov ska kunna föreslå en SIP,
  att bara huvudmännen kallar till möte,
  och att jag ser direkt om personen redan har en öppen SIP.

  Bakgrund:
    Givet att dagens datum är 2025-03-03

  # ---- R01: vem som helst får föreslå ------------------------------------------------------

  @R01
  Scenariomall: Vem som helst får föreslå en SIP
    Givet en person som är 45 år
    När kommunens samordnare registrerar att <förslagsställare> föreslår en SIP
    Så godtas det
    Och det finns ett öppet SIP-ärende för personen
    Och förslaget är registrerat som lämnat av <förslagsställare>

    Exempel:
      | förslagsställare  |
      | den enskilde      |
      | en närstående     |
      | personal          |
      | Försäkringskassan |
      | någon annan       |

  @R01 @R02
  Scenario: Försäkringskassan får föreslå en SIP men inte kalla till mötet
    Givet en person som är 45 år
    När Försäkringskassans handläggare föreslår en SIP
    Så godtas det
    Och förslaget är registrerat som lämnat av Försäkringskassan
    När personen samtycker till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    Och Försäkringskassans handläggare kallar till SIP-möte den 2025-03-20 och bjuder in kommunen och regionen
    Så avvisas det med regel "R02"

  # ---- R02: bara huvudmännen kallar -------------------------------------------------------

  @R02
  Scenariomall: En huvudman får kalla till SIP-möte
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När <huvudmannens samordnare> kallar till SIP-möte den 2025-03-20 och bjuder in kommunen och regionen
    Så godtas det
    Och ärendet är kallat till möte

    Exempel:
      | huvudmannens samordnare |
      | kommunens samordnare    |
      | regionens samordnare    |

  @R02
  Scenario: En annan kommun än ärendets huvudman får inte kalla
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När en annan kommuns samordnare kallar till SIP-möte den 2025-03-20 och bjuder in kommunen och regionen
    Så avvisas det med regel "R02"
    Och felet gäller fältet "actor.organisation.id"
    Och ärendet är aktivt

  @R02
  Scenariomall: Försäkringskassan och Arbetsförmedlingen får inte kalla
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen, Försäkringskassan och Arbetsförmedlingen
    När <handläggare> kallar till SIP-möte den 2025-03-20 och bjuder in kommunen och regionen
    Så avvisas det med regel "R02"
    Och felet gäller fältet "actor.organisation.kind"
    Och ärendet är aktivt

    Exempel:
      | handläggare                     |
      | Försäkringskassans handläggare  |
      | Arbetsförmedlingens handläggare |

  @R02
  Scenario: Den kommunala huvudmannen måste vara en kommun
    Givet en person som är 45 år
    Och att förslaget anger Försäkringskassan som kommunal huvudman
    När kommunens samordnare föreslår en SIP
    Så avvisas det med regel "R02"
    Och det finns inget öppet SIP-ärende för personen

  # ---- R03: skolan kallar för barn och unga i Västra Götaland ----------------------------

  @R03
  Scenario: Skolans elevhälsa kallar till SIP för ett barn i Västra Götaland
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    Och att skolans elevhälsa har föreslagit en SIP
    Och att vårdnadshavarna har samtyckt till informationsutbyte mellan kommunen, regionen och skolan
    När skolans elevhälsa kallar till SIP-möte den 2025-03-17 och bjuder in kommunen och regionen
    Så godtas det
    Och skolans elevhälsa är kontaktperson för ärendet

  @R03
  Scenario: Skolan får kalla för en ung vuxen som är 20 år
    Givet en ung vuxen född 2004-06-01
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    Och att skolans elevhälsa har föreslagit en SIP
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och skolan
    När skolans elevhälsa kallar till SIP-möte den 2025-03-17 och bjuder in kommunen
    Så godtas det

  @R03 @R02
  Scenario: Skolan får inte längre kalla när den unga har fyllt 21 år
    Givet att dagens datum är 2025-01-10
    Och en ung vuxen född 2004-01-15
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    Och att kommunens samordnare har föreslagit en SIP
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och skolan
    När det har blivit 2025-01-20
    Och skolans elevhälsa kallar till SIP-möte den 2025-01-30 och bjuder in kommunen och regionen
    Så avvisas det med regel "R02"
    När kommunens samordnare kallar till SIP-möte den 2025-01-30 och bjuder in skolan och regionen
    Så godtas det

  @R03 @R02
  Scenario: Utanför Västra Götalands överenskommelse för barn och unga kallar inte skolan
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "national"
    Och att skolans elevhälsa har föreslagit en SIP
    Och att vårdnadshavarna har samtyckt till informationsutbyte mellan kommunen, regionen och skolan
    När skolans elevhälsa kallar till SIP-möte den 2025-03-17 och bjuder in kommunen och regionen
    Så avvisas det med regel "R02"

  # ---- R04: en huvudmans bedömning räcker ---------------------------------------------------

  @R04
  Scenario: Det räcker att regionen bedömer att en SIP behövs
    Givet en person som är 52 år
    Och att regionen har bedömt att en SIP behövs
    När regionens samordnare föreslår en SIP
    Så godtas det
    Och både kommunen och regionen är huvudmän i ärendet
    Och tidsfristen för start av arbetet ligger hos regionen
    När personen samtycker till informationsutbyte mellan kommunen och regionen
    Och kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen
    Så godtas det

  @R04
  Scenario: Behovet bedöms av en huvudman, inte av Försäkringskassan
    Givet en person som är 52 år
    Och att Försäkringskassan har bedömt att en SIP behövs
    När Försäkringskassans handläggare föreslår en SIP
    Så avvisas det med regel "R04"
    Och det finns inget öppet SIP-ärende för personen

  # ---- R05: utskrivning från sluten vård ----------------------------------------------------

  @R05
  Scenario: Den fasta vårdkontakten tar initiativet vid utskrivning
    Givet en person som är 81 år
    Och att personen meddelades utskrivningsklar från sluten vård 2025-03-03
    När den fasta vårdkontakten föreslår en SIP
    Så godtas det
    Och ärendet har en tidsfrist för kallelse efter utskrivning med sista dag 2025-03-06 enligt regel "R05"
    Och tidsfristen för start av arbetet ligger hos regionen

  @R05
  Scenario: Kallelsen går ut inom tre dagar efter beskedet om utskrivningsklar
    Givet en person som är 81 år
    Och att personen meddelades utskrivningsklar från sluten vård 2025-03-03
    Och att den fasta vårdkontakten har föreslagit en SIP
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När det har blivit 2025-03-05
    Och den fasta vårdkontakten kallar till SIP-möte den 2025-03-12 och bjuder in kommunen
    Så godtas det
    Och tidsfristen för kallelse efter utskrivning är uppfylld 2025-03-05
    Och tidsfristen för kallelse efter utskrivning hölls

  @R05
  Scenario: En kallelse fyra dagar efter beskedet är för sen
    Givet en person som är 81 år
    Och att personen meddelades utskrivningsklar från sluten vård 2025-03-03
    Och att den fasta vårdkontakten har föreslagit en SIP
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När det har blivit 2025-03-07
    Och den fasta vårdkontakten kallar till SIP-möte den 2025-03-12 och bjuder in kommunen
    Så godtas det
    Och tidsfristen för kallelse efter utskrivning är uppfylld 2025-03-07
    Och tidsfristen för kallelse efter utskrivning överskreds

  @R05
  Scenariomall: Vid utskrivning tar bara den fasta vårdkontakten initiativet
    Givet en person som är 81 år
    Och att personen meddelades utskrivningsklar från sluten vård 2025-03-03
    När <någon annan> föreslår en SIP
    Så avvisas det med regel "R05"
    Och det finns inget öppet SIP-ärende för personen

    Exempel:
      | någon annan          |
      | kommunens samordnare |
      | regionens samordnare |

  # ---- R06: plantyper ------------------------------------------------------------------------

  @R06
  Scenariomall: Regionen skiljer på olika typer av SIP
    Givet en person som är 60 år
    Och att planen ska vara en <plantyp>
    När regionens samordnare föreslår en SIP
    Så godtas det
    Och ärendet är en <plantyp>

    Exempel:
      | plantyp   |
      | SIP       |
      | vård-SIP  |
      | rehab-SIP |

  # ---- R07, R08: varför en SIP behövs -------------------------------------------------------

  @R07
  Scenariomall: För personer med omfattande behov förutsätts att en plan behövs
    Givet en person som är 58 år
    Och att personen har <sjukdomsbild>
    Och att inget annat skäl är angivet
    När kommunens samordnare föreslår en SIP
    Så godtas det
    Och ärendet anger att en plan förutsätts behövas vid <sjukdomsbild>

    Exempel:
      | sjukdomsbild                                       |
      | psykisk sjukdom och missbruk                       |
      | allvarlig psykisk sjukdom och funktionsnedsättning |
      | demenssjukdom och annan somatisk sjukdom           |

  @R08
  Scenariomall: Skäl till att en SIP behövs
    Givet en person som är 34 år
    Och att skälet till SIP är att <skäl>
    När kommunens samordnare föreslår en SIP
    Så godtas det
    Och ärendet anger skälet att <skäl>

    Exempel:
      | skäl                                                |
      | den enskilde har bett om samordning                 |
      | kompetens från flera verksamheter behövs            |
      | ansvaret är oklart                                  |
      | insatserna måste ske samtidigt eller i viss ordning |
      | personen bollas runt                                |

  @R08 @R07
  Scenario: Ett förslag utan skäl och utan förutsatt behov avvisas
    Givet en person som är 34 år
    Och att inget skäl är angivet
    När kommunens samordnare föreslår en SIP
    Så avvisas det med regel "R08"
    Och felet gäller fältet "triggers"
    Och det finns inget öppet SIP-ärende för personen

  # ---- R09: finns det redan en öppen SIP? --------------------------------------------------

  @R09
  Scenario: En ny SIP avvisas när personen redan har en öppen SIP
    Givet ett SIP-ärende för en person som är 45 år
    När regionens samordnare föreslår en SIP
    Så avvisas det med regel "R09"
    Och felet pekar ut det öppna ärendet
    Och det finns ett öppet SIP-ärende för personen

  @R09
  Scenario: En andra SIP kan startas när den öppna har granskats
    Givet ett SIP-ärende för en person som är 45 år
    Och att förslaget bekräftar det öppna ärendet
    När regionens samordnare föreslår en SIP
    Så godtas det
    Och det finns 2 öppna SIP-ärenden för personen

  @R09 @R15
  Scenario: En SIP som personen tackat nej till hindrar inte ett nytt förslag
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har tackat nej till SIP
    När regionens samordnare föreslår en SIP
    Så godtas det
    Och det finns ett öppet SIP-ärende för personen

  # ---- R16: arbetet startar utan dröjsmål ---------------------------------------------------

  @R16
  Scenario: Arbetet ska påbörjas inom några dagar
    Givet en person som är 45 år
    När kommunens samordnare föreslår en SIP
    Så godtas det
    Och ärendet har en tidsfrist för start av arbetet med sista dag 2025-03-08 enligt regel "R16"
    Och tidsfristen för start av arbetet ligger hos kommunen
    Och tidsfristen för start av arbetet är öppen

  @R16
  Scenario: Ett samtycke efter två dagar innebär att arbetet har startat i tid
    Givet ett SIP-ärende för en person som är 45 år
    När det har blivit 2025-03-05
    Och personen samtycker till informationsutbyte mellan kommunen och regionen
    Så godtas det
    Och tidsfristen för start av arbetet är uppfylld 2025-03-05
    Och tidsfristen för start av arbetet hölls

  @R16
  Scenario: Arbete som startar först efter en vecka har dröjt för länge
    Givet ett SIP-ärende för en person som är 45 år
    När det har blivit 2025-03-10
    Och personen samtycker till informationsutbyte mellan kommunen och regionen
    Så godtas det
    Och tidsfristen för start av arbetet överskreds
