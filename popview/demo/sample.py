"""A generated sample mailbox for ``popview --demo``, the screenshots and the UI tests.

Deterministic: a seeded :class:`random.Random` and a fixed base date, so that
the same messages (and the same snapshots) come out on every machine. The mail
is built with the stdlib :mod:`email` package and serialised with CRLF line
endings, as a POP3 server sends it (RFC 1939 §3).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

__all__ = ["BASE_DATE", "SAMPLE_COUNT", "sample_messages"]

#: The newest message in the sample is from this moment; everything is older.
BASE_DATE = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)

#: How many messages :func:`sample_messages` returns by default.
SAMPLE_COUNT = 300

_SEED = 1939  # RFC 1939, for luck

_PEOPLE = [
    ("Ada Lovelace", "ada@analytical.example"),
    ("Grace Hopper", "grace@cobol.example"),
    ("Alan Turing", "alan@bletchley.example"),
    ("Edsger Dijkstra", "ewd@eindhoven.example"),
    ("Barbara Liskov", "liskov@clu.example"),
    ("Ken Thompson", "ken@unix.example"),
    ("Margaret Hamilton", "mhamilton@apollo.example"),
    ("Donald Knuth", "knuth@taocp.example"),
    ("Frances Allen", "fran@fortran.example"),
    ("Dennis Ritchie", "dmr@unix.example"),
    ("Radia Perlman", "radia@spanning.example"),
    ("John Backus", "backus@bnf.example"),
]

_SUBJECTS = [
    "Lunch on Thursday?",
    "Minutes from the planning meeting",
    "Re: the build is green again",
    "Can you review my patch",
    "Quarterly numbers",
    "Train tickets for the conference",
    "Question about the parser",
    "Photos from the weekend",
    "Invoice 2024-{n:04d}",
    "Your order #{n} has shipped",
    "Reminder: dentist at 10:30",
    "Draft of the release notes",
    "Server maintenance window tonight",
    "Welcome to the team!",
    "Coffee machine is fixed",
]

_SENTENCES = [
    "I had a look at this over the weekend and I think we are close.",
    "The numbers are in the spreadsheet, second tab.",
    "Let me know if Thursday works for you, otherwise Friday is fine too.",
    "We should probably talk about this before the next release.",
    "Thanks again for your help with the migration.",
    "I attached the file you asked for.",
    "The tests pass locally but the CI runner times out.",
    "No rush on this one, whenever you have a minute.",
    "I am out of office next week, Barbara is covering for me.",
    "Here is the summary you asked for, in three points.",
]

# (charset, display name, subject, body) for the international messages. The
# subjects go out RFC 2047 encoded, the bodies in the named charset.
_INTERNATIONAL = [
    (
        "iso-8859-1",
        "François Müller",
        "Réunion à Genève — ordre du jour",
        "Bonjour à tous,\n\nvoici l'ordre du jour de jeudi.\n\nCordialement,\nFrançois\n",
    ),
    (
        "utf-8",
        "山田 太郎",
        "来週の会議について",
        "皆さん、こんにちは。\n\n来週の会議の資料を添付します。\nよろしくお願いします。\n",
    ),
    (
        "koi8-r",
        "Дмитрий Иванов",
        "Отчёт за март",
        "Привет!\n\nОтчёт за март готов, посмотри, пожалуйста.\n\nДмитрий\n",
    ),
    (
        "iso-8859-7",
        "Ελένη Παπαδοπούλου",
        "Καλημέρα από την Αθήνα",
        "Γεια σου,\n\nστέλνω τις φωτογραφίες από το ταξίδι.\n\nΕλένη\n",
    ),
    (
        "shift_jis",
        "鈴木 花子",
        "お見積りのご依頼",
        "いつもお世話になっております。\nお見積りをお願いいたします。\n",
    ),
    (
        "utf-8",
        "Jürgen Groß",
        "Grüße aus München 🍺",
        "Hallo zusammen,\n\ndas Oktoberfest-Foto ist angehängt. Schöne Grüße!\n",
    ),
    (
        "iso-8859-2",
        "Łukasz Wiśniewski",
        "Zażółć gęślą jaźń",
        "Cześć,\n\nto jest test polskich znaków.\n\nŁukasz\n",
    ),
    (
        "utf-8",
        "Ana Souza",
        "Orçamento do projeto — versão final",
        "Olá,\n\nsegue a versão final do orçamento.\n\nAbraços,\nAna\n",
    ),
]

_NEWSLETTER_HTML = """\
<html><head><style>body {{ font-family: sans-serif; }}</style></head>
<body>
<h1>The Terminal Times &mdash; issue {issue}</h1>
<p>Welcome to this week's issue. Here is what happened in the world of
<b>text-mode software</b>.</p>
<h2>Headlines</h2>
<ul>
<li><a href="https://example.invalid/tui">Why TUIs are back</a></li>
<li><a href="https://example.invalid/pop3">POP3 turns {age}</a></li>
<li>Reader question: <i>how do I quit vi?</i></li>
</ul>
<table>
<tr><th>Package</th><th>Stars</th></tr>
<tr><td>popview</td><td>{stars}</td></tr>
<tr><td>mutt</td><td>a lot</td></tr>
</table>
<img src="https://tracker.example.invalid/pixel.gif" alt="">
<p>You receive this because you subscribed. <a href="https://example.invalid/unsub">Unsubscribe</a>.</p>
</body></html>
"""

# A 1x1 transparent PNG, so the attachment is a real image.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000185d114090000000049454e44ae426082"
)


def _address(name: str, addr: str) -> Address:
    user, _, domain = addr.partition("@")
    return Address(display_name=name, username=user, domain=domain)


def _fix_boundaries(msg: EmailMessage, index: int) -> None:
    """Give every multipart a fixed boundary; the stdlib picks a random one."""
    for number, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_popview_{index:05d}_{number}")


class _Builder:
    """Builds the sample messages; one instance per call, so it is re-entrant."""

    def __init__(self, count: int) -> None:
        self.rng = random.Random(_SEED)
        self.count = count
        self.me = _address("Demo User", "demo@popview.example")

    def date_for(self, index: int) -> datetime:
        """Spread messages over ~8 weeks, oldest first (message 1 is the oldest)."""
        span = timedelta(days=56)
        step = span / max(self.count - 1, 1)
        jitter = timedelta(minutes=self.rng.randint(0, 50))
        return BASE_DATE - span + step * index - jitter

    def base(self, index: int, sender: tuple[str, str], subject: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = _address(*sender)
        msg["To"] = self.me
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.date_for(index))
        msg["Message-ID"] = f"<sample-{index:05d}@popview.example>"
        return msg

    def body_text(self) -> str:
        lines = self.rng.sample(_SENTENCES, k=self.rng.randint(2, 5))
        return "Hi,\n\n" + "\n".join(lines) + "\n\nCheers\n"

    def plain(self, index: int) -> EmailMessage:
        sender = self.rng.choice(_PEOPLE)
        subject = self.rng.choice(_SUBJECTS).format(n=index + 100)
        msg = self.base(index, sender, subject)
        msg.set_content(self.body_text())
        return msg

    def newsletter(self, index: int) -> EmailMessage:
        msg = self.base(
            index, ("The Terminal Times", "news@times.example"), f"The Terminal Times #{index}"
        )
        msg["List-Unsubscribe"] = "<https://example.invalid/unsub>"
        msg.set_content(
            f"The Terminal Times, issue {index}\n\nHeadlines: Why TUIs are back; "
            "POP3 turns 35; how do I quit vi?\n"
        )
        html = _NEWSLETTER_HTML.format(issue=index, age=35, stars=self.rng.randint(10, 999))
        msg.add_alternative(html, subtype="html")
        return msg

    def with_attachments(self, index: int) -> EmailMessage:
        sender = self.rng.choice(_PEOPLE)
        msg = self.base(index, sender, f"Documents for review ({index})")
        msg.set_content(self.body_text())
        csv = "month,revenue\nJanuary,1200\nFebruary,1350\nMarch,1410\n"
        msg.add_attachment(csv, subtype="csv", filename=f"report-{index}.csv")
        msg.add_attachment(_PNG, maintype="image", subtype="png", filename="chart.png")
        if index % 2:
            pdf = b"%PDF-1.4\n% sample\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
            msg.add_attachment(
                pdf, maintype="application", subtype="pdf", filename="Überblick März.pdf"
            )
        return msg

    def international(self, index: int, which: int) -> EmailMessage:
        charset, name, subject, body = _INTERNATIONAL[which % len(_INTERNATIONAL)]
        msg = self.base(index, (name, f"intl{which}@mail.example"), subject)
        msg.set_content(body, charset=charset)
        return msg

    def forwarded(self, index: int, inner: EmailMessage) -> EmailMessage:
        msg = self.base(index, _PEOPLE[4], "Fwd: " + str(inner["Subject"]))
        msg.set_content("See below, forwarding this for your records.\n")
        msg.add_attachment(inner)
        return msg

    def thread(self, start: int, length: int) -> Iterator[tuple[int, EmailMessage]]:
        """A long discussion: each reply's References carry the whole chain (RFC 5322 §3.6.4)."""
        chain: list[str] = []
        for step in range(length):
            index = start + step
            subject = (
                "Proposal: switch the office to tabs"
                if step == 0
                else ("Re: Proposal: switch the office to tabs")
            )
            sender = _PEOPLE[step % 5]
            msg = self.base(index, sender, subject)
            if chain:
                msg["In-Reply-To"] = chain[-1]
                msg["References"] = " ".join(chain[-10:])
            quote = f"> {self.rng.choice(_SENTENCES)}\n\n" if chain else ""
            msg.set_content(quote + self.body_text())
            chain.append(str(msg["Message-ID"]))
            yield index, msg

    def build(self) -> list[bytes]:
        thread_start = self.count // 3
        thread = dict(self.thread(thread_start, 24))
        out: list[bytes] = []
        intl = 0
        last_plain: EmailMessage | None = None
        for index in range(self.count):
            if index in thread:
                msg = thread[index]
            elif index % 17 == 3:
                msg = self.newsletter(index)
            elif index % 13 == 5:
                msg = self.with_attachments(index)
            elif index % 11 == 7:
                msg = self.international(index, intl)
                intl += 1
            elif index % 29 == 11 and last_plain is not None:
                msg = self.forwarded(index, last_plain)
            else:
                msg = self.plain(index)
                last_plain = msg
            _fix_boundaries(msg, index)
            out.append(msg.as_bytes(policy=SMTP))
        return out


def sample_messages(count: int = SAMPLE_COUNT) -> list[bytes]:
    """Return the sample mail as raw RFC 5322 messages, oldest first.

    Args:
        count: How many messages; the mix (plain, newsletter, attachments,
            international, forwarded, one long thread) scales with it.

    Returns:
        CRLF-terminated messages, the same bytes on every call (a new list each time).
    """
    return list(_built(count))


@functools.lru_cache(maxsize=8)
def _built(count: int) -> tuple[bytes, ...]:
    """The messages for ``count``, built once: the build is deterministic and takes about
    a millisecond per message, which every UI test paid again for the same bytes."""
    return tuple(_Builder(count).build())
