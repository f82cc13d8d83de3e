"""What ``skillstore demo`` stores: one agent's world, generated from fixed templates.

Fixed rather than random so every run (and every machine) shows the same tables. A few
hand-written facts carry the story the demo's query finds; a few hundred generated
ones around them make the search and the retrieval actually choose.
"""

from __future__ import annotations

import uuid
from typing import Any

TEAM_NAME = "Skillstore Demo"
TEAM_SLUG = "skillstore-demo"
EMAIL = "dana@example.com"
PASSWORD = "demo password, not a real one"
SECRET = "ghp_demoToken0000000000000000000000000000"

AGENT: dict[str, Any] = {
    "name": "Kyra",
    "slug": "kyra",
    "tagline": "Support agent for the Acme account",
    "personality": {
        "system_prompt_template": "You are {name}, Acme's support agent. Be brief and exact.",
        "tone": "friendly",
        "traits": {"patience": 0.9, "curiosity": 0.7},
        "always_rules": ["confirm before closing a ticket"],
        "never_rules": ["share a customer's data with another customer"],
    },
    "skills": [
        {"name": "search_docs", "order": 0},
        {"name": "open_ticket", "order": 1, "config": {"queue": "support"}},
        {"name": "summarize_thread", "order": 2},
    ],
    "integrations": ["github", "slack"],
}

CONVERSATION = [
    ("user", "Hi Kyra, can you remind me how we handle Dana's notifications?"),
    ("assistant", "Dana prefers email for everything and asked for no phone calls."),
    ("user", "Right. Also, the Acme invoice went out late in March, please keep that in mind."),
    ("assistant", "Noted: I will mention the late March invoice if billing comes up."),
]

# (content, memory type, importance, pinned, from the conversation)
FACTS: list[tuple[str, str, int, bool, bool]] = [
    ("Dana is the account owner at Acme and the main contact", "identity", 9, True, False),
    ("Dana prefers to be contacted by email and never by phone", "user_profile", 8, False, True),
    (
        "Dana reads email in the morning, so send updates before 9am",
        "user_profile",
        6,
        False,
        False,
    ),
    (
        "Dana asked to be contacted only about outages, not marketing",
        "user_profile",
        7,
        False,
        False,
    ),
    ("the Acme invoice for March went out late and Dana noticed", "episodic", 6, False, True),
    ("Acme pays invoices by bank transfer within 30 days", "semantic", 5, False, False),
    (
        "to escalate an outage, page the on-call engineer and email Dana",
        "procedural",
        8,
        False,
        False,
    ),
    ("Acme's contract renews every January", "semantic", 6, False, False),
    ("Dana likes short answers with a link to the docs", "user_profile", 5, False, False),
    ("Kyra must confirm before closing any Acme ticket", "procedural", 7, True, False),
]

PEOPLE = ["Ava", "Ben", "Chen", "Diego", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jun"]
TOPICS = [
    "the billing dashboard",
    "the mobile app",
    "single sign-on",
    "the data export",
    "the onboarding checklist",
    "webhook retries",
    "the weekly report",
]
TEMPLATES = [
    ("{p} asked about {t} during a support call", "episodic"),
    ("{p} reported a bug in {t}", "episodic"),
    ("{p} wants {t} translated into Portuguese", "semantic"),
    ("{p} praised {t} in the feedback survey", "semantic"),
]


def memories(
    agent_id: uuid.UUID, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The demo's memories (content only: the store's embedder makes the vectors)."""
    items: list[dict[str, Any]] = []
    for content, memory_type, importance, pinned, in_conversation in FACTS:
        items.append(
            {
                "content": content,
                "memory_type": memory_type,
                "importance": importance,
                "is_pinned": pinned,
                "agent_id": agent_id,
                "user_id": user_id,
                "source_conversation_id": conversation_id if in_conversation else None,
            }
        )
    for i, (person, topic, (template, memory_type)) in enumerate(
        (p, t, tpl) for p in PEOPLE for t in TOPICS for tpl in TEMPLATES
    ):
        items.append(
            {
                "content": template.format(p=person, t=topic),
                "memory_type": memory_type,
                "importance": 2 + i % 4,
                "agent_id": agent_id,
            }
        )
    return items
