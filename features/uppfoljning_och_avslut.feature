# language: sv
Egenskap: Uppföljning och avslut
  Som kontaktperson vill jag att varje plan följs upp på det datum den anger,
  att uppföljningen går igenom vad som hänt och vad som återstår,
  att planeringen avslutas när den inte längre behövs,
  och att varje huvudman dokumenterar sitt avslut.

  Bakgrund:
    Givet att dagens datum är 2025-03-03
    Och ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen och Försäkringskassan
    Och att dagens datum är 2025-03-20

  # ---- R19: planen gäller så länge samordning behövs och anger sin uppföljning ---------------

  @R19
  Scenario: Varje plan anger när den ska följas upp
    När kommunens samordnare fastställer planen
    Så godtas det
    Och planen ska följas upp 2025-06-18
    Och ärendet har en tidsfrist för uppföljning 1 med sista dag 2025-06-18 enligt regel "R19"
    Och tidsfristen för uppföljning 1 ligger hos kommunen

  @R19
  Scenario: Uppföljningen ska ligga efter mötet
    Givet att planen ska följas upp 2025-03-20
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R19"
    Och felet gäller fältet "plan.follow_up_date"

  @R19 @R29
  Scenario: En uppföljning i tid uppfyller fristen och nästa uppföljning bokas
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-06-18
    När kommunens samordnare registrerar uppföljningen:
      | hölls             | 2025-06-16                              |
      | vad har hänt      | Boendestödet är igång och hyran betalas |
      | nästa uppföljning | 2025-09-17                              |
    Så godtas det
    Och tidsfristen för uppföljning 1 är uppfylld 2025-06-16
    Och tidsfristen för uppföljning 1 hölls
    Och ärendet har en tidsfrist för uppföljning 2 med sista dag 2025-09-17 enligt regel "R19"
    Och tidsfristen för uppföljning 2 är öppen

  @R19
  Scenario: En sen uppföljning syns som försenad
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-07-02
    När kommunens samordnare registrerar uppföljningen:
      | hölls             | 2025-07-01                  |
      | vad har hänt      | Boendestödet har kommit i gång |
      | nästa uppföljning | 2025-10-01                  |
    Så godtas det
    Och tidsfristen för uppföljning 1 är uppfylld 2025-07-01
    Och tidsfristen för uppföljning 1 överskreds

  @R19
  Scenario: En reviderad plan följs upp när nästa uppföljning är bokad
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-06-18
    När kommunens samordnare registrerar uppföljningen:
      | hölls                    | 2025-06-18            |
      | vad har hänt             | Boendestödet är igång |
      | nästa uppföljning        | 2025-09-17            |
      | reviderad plan följs upp | 2025-10-01            |
    Så avvisas det med regel "R19"
    Och felet gäller fältet "revised_plan.follow_up_date"

  # ---- R29: uppföljningen -----------------------------------------------------------------------

  @R29
  Scenario: Vid uppföljningen gås planen igenom och revideras
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-06-18
    När kommunens samordnare registrerar uppföljningen:
      | hölls                    | 2025-06-18                                   |
      | vad har hänt             | Boendestödet är igång, inga hot om avhysning |
      | vad återstår             | Samtalsbehandlingen har inte kommit i gång   |
      | nya behov                | Stöd att hitta sysselsättning                |
      | nästa uppföljning        | 2025-09-17                                   |
      | reviderad plan följs upp | 2025-09-17                                   |
    Så godtas det
    Och uppföljningen 2025-06-18 är registrerad med vad som har hänt, vad som återstår och nya behov
    Och planen är reviderad till version 2, beslutad 2025-06-18
    Och planen ska följas upp 2025-09-17

  @R29
  Scenariomall: En uppföljning som inte går ihop avvisas
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-06-18
    När kommunens samordnare registrerar uppföljningen:
      | hölls             | <hölls>               |
      | vad har hänt      | Boendestödet är igång |
      | nästa uppföljning | <nästa>               |
    Så avvisas det med regel "R29"
    Och felet gäller fältet "<fält>"
    Och planen har 0 uppföljningar

    Exempel:
      | fall                                | hölls      | nästa      | fält                |
      | ingen ny uppföljning bokad          | 2025-06-18 | 2025-06-18 | next_follow_up_date |
      | uppföljningen har inte hållits ännu | 2025-06-25 | 2025-09-17 | held_on             |
      | uppföljningen före planen           | 2025-03-10 | 2025-09-17 | held_on             |

  @R29
  Scenario: Det finns ingen plan att följa upp förrän den är fastställd
    När kommunens samordnare registrerar uppföljningen:
      | hölls             | 2025-03-20            |
      | vad har hänt      | Mötet hölls           |
      | nästa uppföljning | 2025-06-18            |
    Så avvisas det med regel "R29"

  @R29
  Scenario: En befintlig plan revideras vid uppföljning, inte genom en ny plan
    Givet att kommunens samordnare har fastställt planen
    När kommunens samordnare fastställer planen
    Så avvisas det med regel "R29"

  # ---- R30: när planeringen avslutas --------------------------------------------------------

  @R30
  Scenariomall: Planeringen avslutas när den inte längre behövs
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-09-17
    När kommunens samordnare dokumenterar avslut eftersom <skäl>
    Så godtas det
    Och ärendet är under avslut
    Och kommunens avslut är dokumenterat med skälet att <skäl>

    Exempel:
      | skäl                          |
      | målen är uppnådda             |
      | samordning inte längre behövs |

  @R30
  Scenario: När planeringen har avslutats kallas inte till fler möten
    Givet att kommunens samordnare har fastställt planen
    Och att kommunens samordnare har dokumenterat avslut eftersom målen är uppnådda
    När kommunens samordnare kallar till SIP-möte den 2025-04-01 och bjuder in regionen
    Så avvisas det med regel "R30"

  @R30 @R12
  Scenario: Planeringen avslutas när samtycket återkallas
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-05-05
    När personen återkallar sitt samtycke
    Så godtas det
    Och ärendet är under avslut
    Och tidsfristen för uppföljning 1 är avbruten 2025-05-05
    När kommunens samordnare dokumenterar avslut eftersom samtycket har återkallats
    Så godtas det
    Och kommunens avslut är dokumenterat med skälet att samtycket har återkallats

  @R30
  Scenario: Ett samtycke som inte är återkallat kan inte anges som skäl för avslut
    Givet att kommunens samordnare har fastställt planen
    När kommunens samordnare dokumenterar avslut eftersom samtycket har återkallats
    Så avvisas det med regel "R30"
    Och felet gäller fältet "reason"
    Och ärendet är med fastställd plan

  # ---- R31: varje huvudman dokumenterar avslut ---------------------------------------------

  @R31
  Scenario: Ärendet är avslutat först när båda huvudmännen har dokumenterat avslut
    Givet att kommunens samordnare har fastställt planen
    Och att dagens datum är 2025-09-17
    När kommunens samordnare dokumenterar avslut eftersom målen är uppnådda
    Så godtas det
    Och ärendet är under avslut
    Och tidsfristen för avslut hos kommunen är uppfylld 2025-09-17
    Och ärendet har en tidsfrist för avslut hos regionen med sista dag 2025-10-01 enligt regel "R31"
    Och det finns ett öppet SIP-ärende för personen
    När det har blivit 2025-09-24
    Och regionens samordnare dokumenterar avslut eftersom målen är uppnådda
    Så godtas det
    Och ärendet är avslutat
    Och tidsfristen för avslut hos regionen hölls
    Och det finns inget öppet SIP-ärende för personen

  @R31
  Scenario: Bara en huvudman i ärendet dokumenterar avslut
    Givet att kommunens samordnare har fastställt planen
    När Försäkringskassans handläggare dokumenterar avslut eftersom målen är uppnådda
    Så avvisas det med regel "R31"
    Och ärendet är med fastställd plan

  @R31
  Scenario: En huvudman dokumenterar sitt avslut en gång
    Givet att kommunens samordnare har fastställt planen
    Och att kommunens samordnare har dokumenterat avslut eftersom målen är uppnådda
    När kommunens samordnare dokumenterar avslut eftersom målen är uppnådda
    Så avvisas det med regel "R31"
    Och ärendet är under avslut

  @R31
  Scenario: Ett avslutat ärende tar inte emot fler åtgärder
    Givet att kommunens samordnare har fastställt planen
    Och att kommunens samordnare har dokumenterat avslut eftersom målen är uppnådda
    Och att regionens samordnare har dokumenterat avslut eftersom målen är uppnådda
    När kommunens samordnare lämnar en kopia av planen till personen själv
    Så avvisas det med regel "R31"
    Och ärendet är avslutat

  # ---- R32: rättelser -----------------------------------------------------------------------

  @R32
  Scenario: Ett fel rättas med en ny, motiverad post
    Givet att kommunens samordnare har fastställt planen
    När kommunens samordnare rättar post 3 med motiveringen "Fel lokal angavs i kallelsen" och rättelsen "Mötet hölls i Stadshuset, rum 5"
    Så godtas det
    Och rättelsen av post 3 finns i ärendet med motiveringen "Fel lokal angavs i kallelsen"
    Och post 3 är oförändrad

  @R32
  Scenariomall: En rättelse utan motivering eller av en post som inte finns avvisas
    Givet att kommunens samordnare har fastställt planen
    När kommunens samordnare rättar post <post> med motiveringen "<motivering>" och rättelsen "Rätt lokal är rum 5"
    Så avvisas det med regel "R32"
    Och felet gäller fältet "<fält>"

    Exempel:
      | post | motivering                   | fält             |
      | 3    | ok                           | reason           |
      | 99   | Fel lokal angavs i kallelsen | corrects_version |
