# language: sv
Egenskap: Rättelser som namnger post och fält
  Som kontaktperson vill jag kunna rätta en uppgift som blev fel, så att ärendet visar den rätta
  uppgiften, markerad som rättad, medan historiken behåller både det som först registrerades och
  rättelsen. Ingenting ändras i efterhand: rättelsen är en ny, motiverad post som säger vilken
  post och vilket fält den rättar, och med vilket värde. En tidsfrist som räknats från ett rättat
  datum räknas om.

  Bakgrund:
    Givet att dagens datum är 2025-03-03
    Och ett SIP-ärende enligt riktlinjen "jonkoping" för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-28 och bjudit in regionen

  # ---- R32: en rättelse namnger post och fält, och ärendet visar det rättade värdet ----------

  @R32 @R18
  Scenario: Ett rättat mötesdatum visas som rättat och historiken har båda datumen
    När kommunens samordnare rättar fältet "meeting_at" i post 3 till "2025-04-04T13:00" med motiveringen "Fel datum angavs i kallelsen"
    Så godtas det
    Och ärendet visar mötet den 2025-04-04, markerat som rättat i post 4 av kommunens samordnare
    Och ärendet har en tidsfrist för kallelsen till möte 1 med sista dag 2025-03-14 enligt regel "R18"
    Och historiken visar mötet den 2025-03-28 i post 3 och rättelsen till 2025-04-04 i post 4
    Och post 3 är oförändrad

  @R32
  Scenario: En rättelse av ett fält som inte finns avvisas och fältet namnges
    När kommunens samordnare rättar fältet "färg" i post 3 till "blå" med motiveringen "Fel färg angavs"
    Så avvisas det med regel "R32"
    Och felet gäller fältet "changes[0].field"

  @R32
  Scenario: Ett värde av fel slag avvisas utan att värdet upprepas
    När kommunens samordnare rättar fältet "meeting_at" i post 3 till "nästa torsdag" med motiveringen "Fel datum angavs"
    Så avvisas det med regel "R32"
    Och felet gäller fältet "changes[0].new_value"
    Och felet nämner inte "nästa torsdag"

  @R32
  Scenario: En post som ärendet inte har kan inte rättas
    När kommunens samordnare rättar fältet "meeting_at" i post 9 till "2025-04-04T13:00" med motiveringen "Fel datum angavs"
    Så avvisas det med regel "R32"
    Och felet gäller fältet "corrects_version"
