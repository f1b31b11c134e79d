"""What the synthetic plans and invitations say, in Swedish as the real ones are written.

Per kind of organisation: why it is invited and what is expected of it (R21), what it does when
it is not a principal (R25). Per profile: needs, SMART goals with their measure (R27), and the
interventions the municipality and the region are responsible for.
"""

from __future__ import annotations

from adapters.demo.stories import Profile
from domain.parties import OrganisationKind

COORDINATION = (
    "Samordnaren håller ihop insatserna och stämmer av varannan vecka",
    "Kontaktpersonerna hos kommun och region stämmer av per telefon en gång i månaden",
    "Huvudansvarig kallar till uppföljning och informerar övriga vid förändringar",
)
INVITATION_REASONS = {
    OrganisationKind.KOMMUN: "Kommunen ansvarar för sociala insatser och boendestöd",
    OrganisationKind.REGION: "Regionen ansvarar för hälso- och sjukvårdsinsatserna",
    OrganisationKind.SKOLA: "Skolan ser eleven varje dag och ansvarar för stödet i skolan",
    OrganisationKind.FORSAKRINGSKASSAN: "Försäkringskassan handlägger sjukpenning och rehab",
    OrganisationKind.ARBETSFORMEDLINGEN: "Arbetsförmedlingen kan stödja vägen till arbete",
    OrganisationKind.KRIMINALVARDEN: "Frivården har kontakt under pågående påföljd",
}
INVITATION_EXPECTATIONS = {
    OrganisationKind.KOMMUN: "Beskriv pågående och möjliga insatser från socialtjänsten",
    OrganisationKind.REGION: "Ta med aktuell vårdplan och medicinlista",
    OrganisationKind.SKOLA: "Beskriv skolsituationen och elevhälsans insatser",
    OrganisationKind.FORSAKRINGSKASSAN: "Redogör för ersättning och planerad rehabilitering",
    OrganisationKind.ARBETSFORMEDLINGEN: "Presentera möjliga arbetsförberedande insatser",
    OrganisationKind.KRIMINALVARDEN: "Beskriv villkor och planerade kontakter",
}
OTHER_INTERVENTIONS = {
    OrganisationKind.SKOLA: "Anpassad studiegång och stöd av elevhälsan",
    OrganisationKind.FORSAKRINGSKASSAN: "Avstämningsmöte om sjukpenning och rehabiliteringsplan",
    OrganisationKind.ARBETSFORMEDLINGEN: "Arbetsträning med handledare",
    OrganisationKind.KRIMINALVARDEN: "Regelbundna samtal inom frivården",
}
PLAN_TEXTS: dict[Profile, tuple[list[str], list[tuple[str, str]], list[str], list[str]]] = {
    Profile.CHILD: (
        [
            "Stöd i skolan",
            "Utredning av neuropsykiatriska svårigheter",
            "Stöd till familjen",
            "Fungerande sömn",
            "Minskad skolfrånvaro",
        ],
        [
            ("Gå i skolan minst fyra dagar i veckan", "Närvaro enligt skolans register"),
            ("Sova hela natten de flesta nätter", "Sömndagbok fem nätter av sju"),
            ("Ha en fritidsaktivitet varje vecka", "Deltagande enligt ledarens lista"),
        ],
        [
            "Familjebehandling varannan vecka",
            "Kontaktperson en gång i veckan",
            "Föräldrastödsprogram",
        ],
        [
            "Utredning inom barn- och ungdomspsykiatrin",
            "Samtalsbehandling",
            "Insatser från habiliteringen",
        ],
    ),
    Profile.YOUNG: (
        ["Stöd att slutföra gymnasiet", "Eget boende", "Psykiatrisk behandling", "Sysselsättning"],
        [
            ("Slutföra gymnasiets sista år", "Godkända betyg i samtliga kurser"),
            ("Flytta till egen lägenhet", "Eget hyreskontrakt"),
            ("Ha en daglig sysselsättning", "Närvaro tre dagar i veckan"),
        ],
        ["Boendestöd två gånger i veckan", "Stöd av ungdomsmottagningens kurator"],
        ["Samtalsbehandling på vuxenpsykiatrin", "Läkemedelsuppföljning"],
    ),
    Profile.ADULT: (
        [
            "Psykiatrisk behandling",
            "Behandling av missbruk",
            "Stöd i boendet",
            "Meningsfull sysselsättning",
            "Ekonomisk stabilitet",
        ],
        [
            ("Vara drogfri", "Negativa prover vid varje provtagning"),
            ("Behålla sin lägenhet", "Inga hyresskulder under perioden"),
            ("Börja arbetsträna", "Arbetsträning två dagar i veckan"),
        ],
        [
            "Boendestöd två gånger i veckan",
            "Öppenvårdsbehandling för missbruk",
            "Daglig sysselsättning enligt LSS",
        ],
        ["Samtalsbehandling", "Läkemedelsbehandling med uppföljning", "Case manager i psykiatrin"],
    ),
    Profile.ELDERLY: (
        [
            "Trygghet i hemmet",
            "Hjälp med läkemedel",
            "Fallprevention",
            "Stöd till närstående",
            "Nutrition",
        ],
        [
            ("Bo kvar hemma", "Inga oplanerade inläggningar under perioden"),
            ("Undvika fall", "Inga fall enligt hemtjänstens dokumentation"),
            ("Hålla vikten", "Vikt kontrolleras varje månad"),
        ],
        [
            "Hemtjänst tre gånger dagligen",
            "Trygghetslarm",
            "Dagverksamhet två dagar i veckan",
            "Avlösning för närstående",
        ],
        ["Hembesök av distriktssköterska", "Läkemedelsgenomgång", "Demensteamets bedömning"],
    ),
}
