# language: sv
Egenskap: Förberedelse och kallelse till SIP-möte
  Som samordnare vill jag förbereda mötet tillsammans med den enskilde,
  kalla i god tid och inom de tidsgränser som gäller i länet,
  och tala om för varje deltagare varför de är kallade och vad som förväntas av dem.

  Bakgrund:
    Givet att dagens datum är 2025-03-03

  # ---- R17: Västra Götaland, barn och unga: möte inom tre veckor ------------------------

  @R17
  Scenario: Ett barnärende i Västra Götaland ska ha möte inom tre veckor
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    När skolans elevhälsa föreslår en SIP
    Så godtas det
    Och ärendet har en tidsfrist för SIP-mötet med sista dag 2025-03-24 enligt regel "R17"

  @R17
  Scenario: Mötet hålls inom tre veckor
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    Och att skolans elevhälsa har föreslagit en SIP
    Och att vårdnadshavarna har samtyckt till informationsutbyte mellan kommunen, regionen och skolan
    Och att skolans elevhälsa har kallat till SIP-möte den 2025-03-21 och bjudit in kommunen och regionen
    När det har blivit 2025-03-21
    Och skolans elevhälsa fastställer planen
    Så godtas det
    Och tidsfristen för SIP-mötet är uppfylld 2025-03-21
    Och tidsfristen för SIP-mötet hölls

  @R17
  Scenario: Ett möte efter fyra veckor är för sent
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    Och att kommunens samordnare har föreslagit en SIP
    Och att vårdnadshavarna har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-31 och bjudit in regionen
    När det har blivit 2025-03-31
    Och kommunens samordnare fastställer planen
    Så godtas det
    Och tidsfristen för SIP-mötet är uppfylld 2025-03-31
    Och tidsfristen för SIP-mötet överskreds

  @R17
  Scenario: Utanför Västra Götalands barn- och ungdomsöverenskommelse finns ingen treveckorsgräns för mötet
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "national"
    När kommunens samordnare föreslår en SIP
    Så godtas det
    Och ärendet har ingen tidsfrist för SIP-mötet

  @R17 @R03
  Scenariomall: Överenskommelsen för barn och unga gäller till och med 20 år
    Givet en ung vuxen född <född>
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    När kommunens samordnare föreslår en SIP
    Så <utfall>

    Exempel:
      | född       | utfall                      |
      | 2004-03-04 | godtas det                  |
      | 2004-03-03 | avvisas det med regel "R17" |

  # ---- R18: kallelse minst tre veckor i förväg (Jönköping) ---------------------------------

  @R18
  Scenario: En kallelse tre veckor före mötet går ut i god tid
    Givet ett SIP-ärende enligt riktlinjen "jonkoping" för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare kallar till SIP-möte den 2025-03-28 och bjuder in regionen
    Så godtas det
    Och ärendet har en tidsfrist för kallelsen till möte 1 med sista dag 2025-03-07 enligt regel "R18"
    Och tidsfristen för kallelsen till möte 1 är uppfylld 2025-03-03
    Och tidsfristen för kallelsen till möte 1 hölls

  @R18
  Scenario: En kallelse tio dagar före mötet är för sen
    Givet ett SIP-ärende enligt riktlinjen "jonkoping" för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare kallar till SIP-möte den 2025-03-13 och bjuder in regionen
    Så godtas det
    Och ärendet har en tidsfrist för kallelsen till möte 1 med sista dag 2025-02-20 enligt regel "R18"
    Och tidsfristen för kallelsen till möte 1 är uppfylld 2025-03-03
    Och tidsfristen för kallelsen till möte 1 överskreds

  @R18
  Scenario: Utan Jönköpings praxis finns ingen frist för kallelsetiden
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare kallar till SIP-möte den 2025-03-13 och bjuder in regionen
    Så godtas det
    Och ärendet har ingen tidsfrist för kallelsen till möte 1

  # ---- R20: den enskildes önskemål ----------------------------------------------------------

  @R20
  Scenario: Den enskildes önskemål inför mötet antecknas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare antecknar personens önskemål inför mötet:
      | önskemål          | svar                                 |
      | plats             | Hemma hos Kim                        |
      | tid på dagen      | förmiddag                            |
      | längsta tid       | 60                                   |
      | det som kan störa | Många nya ansikten på en gång        |
      | miljö             | Lugnt rum utan lysrör                |
      | stöd              | bildstöd, tolk                       |
      | tolkspråk         | arabiska                             |
    Så godtas det
    Och ärendet har önskemålen:
      | önskemål          | svar                                 |
      | plats             | Hemma hos Kim                        |
      | tid på dagen      | förmiddag                            |
      | längsta tid       | 60                                   |
      | det som kan störa | Många nya ansikten på en gång        |
      | miljö             | Lugnt rum utan lysrör                |
      | stöd              | bildstöd, tolk                       |
      | tolkspråk         | arabiska                             |

  @R20 @R30
  Scenario: Efter att samtycket återkallats antecknas inga fler önskemål
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att personen har återkallat sitt samtycke
    När kommunens samordnare antecknar personens önskemål inför mötet:
      | önskemål | svar          |
      | plats    | Hemma hos Kim |
    Så avvisas det med regel "R30"

  # ---- R21: varför och vad som förväntas ---------------------------------------------------

  @R21
  Scenario: Inbjudan säger varför deltagaren är kallad och vad som förväntas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Arbetsförmedlingen
    Och att inbjudan till Arbetsförmedlingen motiveras med "Kim vill börja arbetsträna" och förväntar sig "Berätta om möjliga arbetsmarknadsinsatser"
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och Arbetsförmedlingen
    Så godtas det
    Och Arbetsförmedlingen är inbjuden till mötet med motiveringen "Kim vill börja arbetsträna" och förväntan "Berätta om möjliga arbetsmarknadsinsatser"

  @R21
  Scenariomall: En inbjudan utan syfte eller förväntan avvisas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    Och att inbjudan till regionen inte säger <vad som saknas>
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen
    Så avvisas det med regel "R21"
    Och felet gäller fältet "<fält>"
    Och ärendet är aktivt

    Exempel:
      | vad som saknas                | fält                      |
      | varför de bjuds in            | invitations[0].reason      |
      | vad som förväntas av dem      | invitations[0].expectation |

  # ---- R22: alla kallade deltar; svaren registreras ----------------------------------------

  @R22
  Scenario: Svaren på kallelsen registreras
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen och Försäkringskassan
    När kommunens samordnare registrerar att regionen tackar ja
    Så godtas det
    Och svaret från regionen är registrerat som ja
    När kommunens samordnare registrerar att Försäkringskassan tackar nej med motiveringen "Ingen pågående förmån"
    Så godtas det
    Och svaret från Försäkringskassan är registrerat som nej med motiveringen "Ingen pågående förmån"

  @R22
  Scenario: I Västra Götalands barnärenden måste ett nej motiveras
    Givet ett barn som är 12 år med vårdnadshavarna "Maria Lind" och "Jonas Lind"
    Och att riktlinjen för tidsfrister är "vgr-barn-unga"
    Och att skolans elevhälsa har föreslagit en SIP
    Och att vårdnadshavarna har samtyckt till informationsutbyte mellan kommunen, regionen och skolan
    Och att skolans elevhälsa har kallat till SIP-möte den 2025-03-17 och bjudit in kommunen och regionen
    När skolans elevhälsa registrerar att regionen tackar nej utan motivering
    Så avvisas det med regel "R22"
    Och felet gäller fältet "comment"
    När skolans elevhälsa registrerar att regionen tackar nej med motiveringen "Barnet är inte aktuellt i BUP"
    Så godtas det
    Och svaret från regionen är registrerat som nej med motiveringen "Barnet är inte aktuellt i BUP"

  @R22
  Scenario: Svar kan bara registreras från den som är kallad
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen
    När kommunens samordnare registrerar att Försäkringskassan tackar ja
    Så avvisas det med regel "R22"

  # ---- R23: vilka fler som kan bjudas in ----------------------------------------------------

  @R23
  Scenariomall: Fler än huvudmännen kan bjudas in
    Givet ett SIP-ärende för en person som är 19 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen, skolan, Försäkringskassan, Arbetsförmedlingen och Kriminalvården och vill att närstående "Eva Karlsson", god man "Bo Berg", personligt ombud "Pia Ek" och stödperson "Lars Ek" bjuds in
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och <deltagare>
    Så godtas det
    Och <deltagare> är inbjuden till mötet

    Exempel:
      | deltagare                |
      | personen själv           |
      | närstående "Eva Karlsson" |
      | god man "Bo Berg"        |
      | personligt ombud "Pia Ek" |
      | stödperson "Lars Ek"     |
      | Försäkringskassan        |
      | Arbetsförmedlingen       |
      | Kriminalvården           |
      | skolan                   |

  @R23
  Scenario: En inbjuden myndighet måste anges som organisation
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    Och att inbjudan till Försäkringskassan inte anger vilken organisation som avses
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in regionen och Försäkringskassan
    Så avvisas det med regel "R23"

  # ---- R24: kontaktpersonen ansvarar ---------------------------------------------------------

  @R24
  Scenario: Den som kallar blir kontaktperson och skriver planen
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    När regionens samordnare kallar till SIP-möte den 2025-03-20 och bjuder in kommunen och Försäkringskassan
    Så godtas det
    Och regionens samordnare är kontaktperson för ärendet
    När det har blivit 2025-03-20
    Och regionens samordnare fastställer planen
    Så godtas det

  @R24
  Scenario: Planen skrivs inte av någon utanför huvudmännen
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen, regionen och Försäkringskassan
    Och att kommunens samordnare har kallat till SIP-möte den 2025-03-20 och bjudit in regionen och Försäkringskassan
    När det har blivit 2025-03-20
    Och Försäkringskassans handläggare fastställer planen
    Så avvisas det med regel "R24"
    Och ärendet är kallat till möte

  @R24
  Scenario: En kallelse utan deltagare avvisas
    Givet ett SIP-ärende för en person som är 45 år
    Och att personen har samtyckt till informationsutbyte mellan kommunen och regionen
    När kommunens samordnare kallar till SIP-möte den 2025-03-20 utan att bjuda in någon
    Så avvisas det med regel "R24"
