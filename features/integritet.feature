# language: sv
Egenskap: Ingen får veta något om en person utan rätt att veta
  Som den enskilde
  vill jag att bara de som har rätt att veta får veta att jag har en SIP,
  och att varken ett avslag eller ett felmeddelande bär mitt personnummer eller mitt namn,
  eller namnen på mina närstående.

  Bakgrund:
    Givet att dagens datum är 2025-03-03

  # ---- R35: R09 säger att en SIP finns, men inte vilken --------------------------------------

  @R35 @R09
  Scenario: En annan kommun som föreslår en SIP får veta att en öppen SIP finns, men inte vilken
    Givet ett SIP-ärende för en person som är 45 år
    När en annan kommuns samordnare föreslår en SIP
    Så avvisas det med regel "R09"
    Och felet gäller fältet "acknowledged_open_case_ids"
    Och felet röjer varken ärendet, personnumret eller personens namn
    Och det finns ett öppet SIP-ärende för personen

  @R35 @R14 @R22
  Scenario: Ett avslag nämner aldrig en närstående vid namn
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen och vill att närstående "Eva Karlsson" bjuds in
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och närstående "Olle Karlsson"
    Så avvisas det med regel "R14"
    Och felet nämner inte "Olle Karlsson"
    Givet att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen
    När kommunens samordnare registrerar att närstående "Eva Karlsson" tackar ja
    Så avvisas det med regel "R22"
    Och felet gäller fältet "participant_key"
    Och felet nämner inte "Eva Karlsson"
