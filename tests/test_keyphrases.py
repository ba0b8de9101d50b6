"""Key phrases for tags from on-screen text, a transcript and a title."""

from __future__ import annotations

from include.core.keyphrases import FILLER, STOPWORDS, candidates, keyphrases

SCREEN = [
    "Sprint 14 board . To do . In progress . Done . Slack notifications . Two-factor login",
    "Backlog . billing . Key . Type . Estimate . Owner . ORB-407 . Story . 2 points . Priya . "
    "ORB-414 . Bug . 3 points . Priya . ORB-421 . Story . 1 points . Priya",
    "Velocity report . Completed points . Cycle time . Open bugs . 86 . 3.2 days . 12",
    "Integrations . Slack . Connected . GitHub . Connected . Google Calendar . Not connected",
]
SPEECH = (
    "Um, so this is the Orbit board for sprint fourteen. Uh, in the backlog I filter for billing "
    "tickets. Let's look closely at the layout view. The velocity report shows eighty six points "
    "completed. Finally we connect Google Calendar in the integrations page, and we finish."
)
TITLE = "Orbit product tour: velocity report and Google Calendar"


def lowered(phrases):
    return [p.lower() for p in phrases]


def test_product_tour_phrases():
    tags = keyphrases([*SCREEN, SPEECH, TITLE, "Orbit"], top=12)
    assert len(tags) == 12 and len(set(lowered(tags))) == 12
    # on screen, spoken and in the title: first
    assert set(lowered(tags[:3])) <= {"google calendar", "velocity report", "orbit"}
    for expected in ["Google Calendar", "Velocity report", "Orbit", "Slack", "Backlog", "Cycle time"]:
        assert expected.lower() in lowered(tags), tags
    assert "Google Calendar" in tags  # proper casing kept
    assert "GitHub" in keyphrases([*SCREEN, SPEECH, TITLE, "Orbit"], top=20)


def test_never_stopwords_filler_numbers_or_fragments():
    tags = keyphrases([*SCREEN, SPEECH, TITLE], top=30)
    words = {w for tag in lowered(tags) for w in tag.split()}
    for bad in ["um", "uh", "so", "the", "closely", "layout", "view", "finish", "let's", "look"]:
        assert bad not in words, (bad, tags)
    assert not words & STOPWORDS
    assert not any(w in FILLER for tag in tags if len(tag.split()) == 1 for w in [tag.lower()])
    assert not any(any(c.isdigit() for c in tag) and " " not in tag for tag in tags)  # 86, ORB-407
    assert not words & {"eighty", "six", "fourteen"}  # spoken numbers neither
    assert "calendar" not in lowered(tags)  # part of "Google Calendar", not a tag of its own
    assert "connected" not in lowered(tags) and "calendar connected" not in lowered(tags)


def test_exclude_and_edge_cases():
    tags = keyphrases([SPEECH, TITLE], exclude={"Orbit", "google calendar"})
    assert "orbit" not in lowered(tags) and "google calendar" not in lowered(tags)
    assert "google" not in lowered(tags) and "calendar" not in lowered(tags)
    assert keyphrases([]) == [] and keyphrases(["", "  ", "um uh the"]) == []
    assert keyphrases(["Kubernetes"] * 5, top=3) == ["Kubernetes"]  # repeats count once
    assert len(keyphrases([SPEECH], top=2)) == 2


def test_candidates_are_runs_of_content_words():
    runs = [" ".join(c) for c in candidates("Um, we connect Google Calendar today.", set())]
    assert "Google Calendar" in runs and "Google" in runs and "Calendar" in runs
    assert not any("today" in r or "Um" in r or "connect Google" == r for r in runs)
