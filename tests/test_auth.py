"""Tests for popview.pop3.auth_methods: credential checks, APOP, SASL mechanisms, choice.

Mechanisms are checked against the RFC example exchanges, and a full SASL
exchange is driven through the sans-IO connection to check what goes on the
wire.
"""

from __future__ import annotations

import base64

import pytest

from popview.errors import AuthError, ConfigError
from popview.pop3 import protocol as p
from popview.pop3.auth_methods import (
    MAX_CHALLENGE,
    CramMd5,
    InvalidCredentialError,
    Login,
    Mechanism,
    OAuthBearer,
    Plain,
    SaslError,
    SaslMechanism,
    ScramSha1,
    ScramSha256,
    XOAuth2,
    apop_digest,
    choose_mechanism,
    create_mechanism,
    decode_challenge,
    encode_response,
    saslprep,
    validate_credential,
    validate_credentials,
)


class TestCredentials:
    """CR/LF/NUL in a credential is refused before anything is sent (B.30)."""

    @pytest.mark.parametrize("bad", ["bob\r\nDELE 1", "x\n", "x\r", "a\0b", "pw\udc80x"])
    def test_rejected(self, bad: str) -> None:
        """The error is both an AuthError and a ValueError, and hides the value."""
        with pytest.raises(InvalidCredentialError) as info:
            validate_credential(bad)
        assert isinstance(info.value, AuthError) and isinstance(info.value, ValueError)
        assert bad not in str(info.value)
        with pytest.raises(ValueError, match="user name"):
            validate_credentials(bad, "pw")
        with pytest.raises(ValueError, match="password"):
            validate_credentials("bob", bad)

    def test_accepted(self) -> None:
        """Spaces, Unicode and no password at all are fine; an empty name is not."""
        validate_credentials("bob smith", "p\u00e4ss word")
        validate_credentials("bob", None)
        with pytest.raises(InvalidCredentialError, match="empty"):
            validate_credentials("", "pw")


class TestApop:
    """APOP digest (RFC 1939 §7)."""

    def test_rfc_example(self) -> None:
        """The RFC 1939 example digest."""
        assert (
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf")
            == "c4c9334bac560ecc979e58001b3e22fb"
        )

    @pytest.mark.parametrize("stamp", ["", "<nope>", "x <a@b>", "<a@b> ", "<<a@b>"])
    def test_invalid_timestamp(self, stamp: str) -> None:
        """Only an exact msg-id is hashed (B.28)."""
        with pytest.raises(ValueError, match="timestamp"):
            apop_digest(stamp, "pw")

    def test_password_checked(self) -> None:
        """A password with CRLF is refused."""
        with pytest.raises(InvalidCredentialError):
            apop_digest("<a@b>", "pw\r\n")


class TestBase64:
    """Challenge decoding refuses junk and huge challenges (B.29)."""

    def test_roundtrip(self) -> None:
        """Challenges decode; empty ones are empty; responses encode."""
        assert decode_challenge("aGVsbG8=") == b"hello"
        assert decode_challenge(" aGVsbG8= ") == b"hello"
        assert decode_challenge("") == b""
        assert encode_response(b"hello") == "aGVsbG8="
        assert encode_response(b"") == ""

    @pytest.mark.parametrize(
        "junk", ["not base64!", "aGVsbG8", "a\x1b[2J", "====", "\u00e9\u00e9\u00e9\u00e9"]
    )
    def test_not_base64(self, junk: str) -> None:
        """Non-base64 challenges raise SaslError with sanitized text."""
        with pytest.raises(SaslError, match="not base64") as info:
            decode_challenge(junk)
        assert "\x1b" not in str(info.value)

    def test_huge(self) -> None:
        """A 1 MB challenge is refused without decoding; 64 KiB passes."""
        with pytest.raises(SaslError, match="oversized"):
            decode_challenge("A" * (1024 * 1024))
        ok = base64.b64encode(b"x" * MAX_CHALLENGE).decode()
        assert len(decode_challenge(ok)) == MAX_CHALLENGE
        with pytest.raises(SaslError):
            decode_challenge(base64.b64encode(b"x" * (MAX_CHALLENGE + 3)).decode())


class TestSimpleMechanisms:
    """PLAIN, LOGIN and CRAM-MD5."""

    def test_sasl_error_is_value_error(self) -> None:
        """Callers catching ValueError to cancel with ``*`` also catch SaslError."""
        with pytest.raises(ValueError):
            CramMd5("a", "b").step(b"")
        with pytest.raises(ValueError):
            decode_challenge("%%%")
        assert Mechanism is SaslMechanism
        assert isinstance(Plain("a", "b"), Mechanism)

    def test_lazy_start(self) -> None:
        """``step`` without ``initial_response`` first still sends the held message."""
        assert XOAuth2("a", "t").step(b"") == b"user=a\x01auth=Bearer t\x01\x01"
        assert Plain("a", "b").step(b"") == b"\0a\0b"

    def test_plain(self) -> None:
        """PLAIN sends authzid NUL user NUL password inline; no further step."""
        mech = Plain("tim", "tanstaaf")
        assert mech.start() == encode_response(b"\0tim\0tanstaaf")
        with pytest.raises(SaslError):
            mech.step(b"")
        assert Plain("tim", "pw", authzid="admin").initial_response() == b"admin\0tim\0pw"
        mech.check_success()

    def test_plain_too_long_goes_after_continuation(self) -> None:
        """An initial response over 255 octets waits for the empty challenge."""
        mech = Plain("tim", "p" * 300)
        assert mech.start() is None
        assert mech.initial_response() is None  # asking again changes nothing
        assert mech.step(b"") == b"\0tim\0" + b"p" * 300
        with pytest.raises(SaslError):
            mech.step(b"")

    def test_login(self) -> None:
        """LOGIN answers user name then password, whatever the prompts say."""
        mech = Login("tim", "pw")
        assert mech.start() is None
        assert mech.step(b"Username:") == b"tim"
        assert mech.step(b"whatever") == b"pw"
        with pytest.raises(SaslError):
            mech.step(b"more?")

    def test_cram_md5_rfc2195(self) -> None:
        """The RFC 2195 example exchange."""
        mech = CramMd5("tim", "tanstaaftanstaaf")
        assert mech.start() is None
        challenge = decode_challenge("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
        answer = mech.step(challenge)
        assert encode_response(answer) == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
        with pytest.raises(SaslError):
            mech.step(challenge)

    def test_cram_md5_empty_challenge(self) -> None:
        """CRAM-MD5 needs a challenge to hash."""
        with pytest.raises(SaslError):
            CramMd5("tim", "pw").step(b"")


SHA1_SERVER_FIRST = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
SHA256_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)


class TestScram:
    """SCRAM against the RFC 5802 and RFC 7677 example exchanges."""

    def test_sha1_rfc5802(self) -> None:
        """Client messages match RFC 5802 §5; the server signature is verified."""
        mech = ScramSha1("user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
        assert base64.b64decode(mech.start() or "") == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        assert mech.step(SHA1_SERVER_FIRST) == (
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        )
        with pytest.raises(SaslError, match="without proving"):
            mech.check_success()
        assert mech.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") == b""
        mech.check_success()
        with pytest.raises(SaslError):
            mech.step(b"v=again")

    def test_sha256_rfc7677(self) -> None:
        """Client messages match RFC 7677 §3."""
        mech = ScramSha256("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
        assert mech.initial_response() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        mech.start()
        assert mech.step(SHA256_SERVER_FIRST) == (
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        assert mech.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == b""
        mech.check_success()

    @pytest.mark.parametrize(
        "final",
        [b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", b"v=not base64", b"", b"x=1"],
    )
    def test_bad_server_signature(self, final: bytes) -> None:
        """A server that cannot prove it knows the password is refused."""
        mech = ScramSha1("user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
        mech.start()
        mech.step(SHA1_SERVER_FIRST)
        with pytest.raises(SaslError, match="impostor"):
            mech.step(final)
        with pytest.raises(SaslError):
            mech.check_success()

    def test_server_error(self) -> None:
        """``e=`` is reported, sanitized."""
        mech = ScramSha1("user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
        mech.start()
        mech.step(SHA1_SERVER_FIRST)
        with pytest.raises(SaslError, match="invalid-proof") as info:
            mech.step(b"e=invalid-proof\x1b[2J")
        assert "\x1b" not in str(info.value)

    @pytest.mark.parametrize(
        ("server_first", "match"),
        [
            (b"r=other,s=QSXCR+Q6sek8bf92,i=4096", "nonce"),
            (b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", "nonce"),
            (b"m=ext," + SHA1_SERVER_FIRST, "nonce"),
            (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0", "iteration"),
            (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=2147483647", "iteration"),
            (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=-1", "iteration"),
            (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=!!!,i=1", "salt"),
            # Non-ASCII digits and a 5,000-digit count: int() would raise ValueError.
            ("r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=\u00b2".encode(), "iteration"),
            ("r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=\u0661".encode(), "iteration"),
            pytest.param(
                b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=" + b"9" * 5000,
                "iteration",
                id="5000-digit-count",
            ),
            (b"garbage", "nonce"),
        ],
    )
    def test_bad_server_first(self, server_first: bytes, match: str) -> None:
        """Hostile server-first messages are refused before any work is done."""
        mech = ScramSha1("user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
        mech.start()
        with pytest.raises(SaslError, match=match):
            mech.step(server_first)

    def test_username_escaping_and_random_nonce(self) -> None:
        """``=`` and ``,`` in the user name are escaped; nonces differ per exchange."""
        first = ScramSha256("a=b,c", "pw").initial_response()
        assert first.startswith(b"n,,n=a=3Db=2Cc,r=")
        assert first != ScramSha256("a=b,c", "pw").initial_response()


class TestSaslprep:
    """SASLprep (RFC 4013) of SCRAM passwords."""

    @pytest.mark.parametrize(
        ("text", "prepared"),
        [
            ("I\u00adX", "IX"),  # RFC 4013 §3 examples
            ("user", "user"),
            ("USER", "USER"),
            ("\u00aa", "a"),
            ("\u2168", "IX"),
            ("a\u00a0b", "a b"),
            ("\u0627\u0031\u0628", "\u0627\u0031\u0628"),
        ],
    )
    def test_mapping(self, text: str, prepared: str) -> None:
        """Soft hyphen removed, compatibility forms folded, NBSP to space."""
        assert saslprep(text) == prepared

    @pytest.mark.parametrize("text", ["\u0007", "a\x7f", "\u0627\u0031", "\u0627a\u0628", "\ue000"])
    def test_prohibited(self, text: str) -> None:
        """Controls, private use and bad bidi are refused (RFC 4013 §3)."""
        with pytest.raises(SaslError, match="SASLprep"):
            saslprep(text)
        with pytest.raises(SaslError):
            ScramSha256("user", text)


class TestOAuth:
    """XOAUTH2 and OAUTHBEARER (RFC 7628)."""

    def test_xoauth2_two_steps(self) -> None:
        """XOAUTH2 never rides on the AUTH line (Outlook refuses it inline)."""
        mech = XOAuth2("bob@example.com", "ya29.token")
        assert mech.initial_response() is None
        assert mech.start() is None
        assert mech.step(b"") == b"user=bob@example.com\x01auth=Bearer ya29.token\x01\x01"
        assert mech.step(b'{"status":"401"}') == b""
        assert mech.error_detail == '{"status":"401"}'
        with pytest.raises(SaslError):
            mech.step(b"again")

    def test_oauthbearer_inline_when_short(self) -> None:
        """A short OAUTHBEARER response is sent inline (fits 255 octets)."""
        mech = OAuthBearer("bob@example.com", "tok")
        inline = mech.start()
        assert inline is not None
        assert base64.b64decode(inline) == (b"n,a=bob@example.com,\x01auth=Bearer tok\x01\x01")
        assert mech.step(b'{"status":"invalid_token"}') == b"\x01"
        assert mech.error_detail == '{"status":"invalid_token"}'

    def test_oauthbearer_long_token_after_continuation(self) -> None:
        """A real-size token does not fit: ``AUTH OAUTHBEARER`` then ``+ ``."""
        token = "t" * 1200
        mech = OAuthBearer("a=b,c", token)
        assert mech.start() is None
        assert mech.step(b"") == f"n,a=a=3Db=2Cc,\x01auth=Bearer {token}\x01\x01".encode()

    def test_token_checked(self) -> None:
        """A token with CRLF is refused."""
        with pytest.raises(InvalidCredentialError):
            XOAuth2("bob", "tok\r\nDELE 1")


class TestCreateMechanism:
    """The factory builds the right class and checks credentials."""

    @pytest.mark.parametrize(
        ("name", "cls"),
        [
            ("plain", Plain),
            ("LOGIN", Login),
            ("CRAM-MD5", CramMd5),
            ("SCRAM-SHA-1", ScramSha1),
            ("SCRAM-SHA-256", ScramSha256),
        ],
    )
    def test_password_mechanisms(self, name: str, cls: type) -> None:
        mech = create_mechanism(name, "bob", "pw")
        assert isinstance(mech, cls) and mech.name == name.upper()

    def test_token_mechanisms(self) -> None:
        assert isinstance(create_mechanism("XOAUTH2", "bob", token="t"), XOAuth2)
        assert isinstance(create_mechanism("oauthbearer", "bob", token="t"), OAuthBearer)
        with pytest.raises(ValueError, match="token"):
            create_mechanism("XOAUTH2", "bob", password="pw")

    def test_errors(self) -> None:
        """Unknown names, missing or injected credentials are refused."""
        with pytest.raises(ValueError, match="unsupported"):
            create_mechanism("GSSAPI", "bob", "pw")
        with pytest.raises(ValueError, match="needs a password"):
            create_mechanism("PLAIN", "bob")
        with pytest.raises(InvalidCredentialError):
            create_mechanism("PLAIN", "bob", "pw\r\nDELE 1")
        with pytest.raises(InvalidCredentialError):
            create_mechanism("PLAIN", "bob", "pw", authzid="x\n")


class TestChooseMechanism:
    """The strongest offered method wins; configured methods must be offered."""

    @pytest.mark.parametrize(
        ("sasl", "user", "chosen"),
        [
            (("PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "LOGIN"), True, "SCRAM-SHA-256"),
            (("plain", "scram-sha-1"), True, "SCRAM-SHA-1"),
            (("LOGIN", "CRAM-MD5", "PLAIN"), True, "CRAM-MD5"),
            (("LOGIN", "PLAIN", "GSSAPI"), True, "PLAIN"),
            (("LOGIN",), True, "LOGIN"),
            (("GSSAPI", "XOAUTH2"), True, "USER"),
            ((), True, "USER"),
        ],
    )
    def test_strongest(self, sasl: tuple[str, ...], user: bool, chosen: str) -> None:
        assert choose_mechanism(sasl, user) == chosen

    def test_token(self) -> None:
        """With a token, OAUTHBEARER beats XOAUTH2 beats password methods."""
        assert (
            choose_mechanism(["XOAUTH2", "OAUTHBEARER", "SCRAM-SHA-256"], True, have_token=True)
            == "OAUTHBEARER"
        )
        assert choose_mechanism(["XOAUTH2", "PLAIN"], True, have_token=True) == "XOAUTH2"
        assert choose_mechanism(["PLAIN"], True, have_token=True) == "PLAIN"

    def test_nothing_usable(self) -> None:
        with pytest.raises(AuthError, match="no login method"):
            choose_mechanism(["GSSAPI"], False)

    def test_configured(self) -> None:
        """A configured method is used only if offered; APOP only when configured."""
        assert choose_mechanism(["SCRAM-SHA-256", "PLAIN"], True, configured="plain") == "PLAIN"
        assert choose_mechanism([], True, configured="user") == "USER"
        assert choose_mechanism([], False, configured="APOP") == "APOP"
        with pytest.raises(AuthError, match="CRAM-MD5") as info:
            choose_mechanism(["PLAIN"], True, configured="CRAM-MD5")
        assert info.value.title == "Login method unavailable"
        with pytest.raises(AuthError):
            choose_mechanism(["PLAIN"], False, configured="USER")
        with pytest.raises(ConfigError, match="does not support"):
            choose_mechanism(["PLAIN"], True, configured="KERBEROS\x1b")

    def test_apop_never_automatic(self) -> None:
        """APOP is not a SASL choice, even if a server lists it."""
        assert choose_mechanism(["APOP", "PLAIN"], True) == "PLAIN"
        with pytest.raises(AuthError):
            choose_mechanism(["APOP"], False)


class TestExchangeOnTheWire:
    """A SASL exchange driven through Pop3Connection: what the server receives."""

    def drive(self, mech: SaslMechanism, server: list[bytes]) -> tuple[list[bytes], list[str]]:
        """Run the client loop from the module docstring against scripted replies."""
        conn = p.Pop3Connection()
        conn.receive_data(b"+OK ready\r\n")
        conn.next_event()
        wire = [conn.send(p.auth(mech.name, mech.start()))]
        outcome: list[str] = []
        for reply in server:
            conn.receive_data(reply)
            event = conn.next_event()
            if isinstance(event, p.Continuation):
                try:
                    answer = mech.step(decode_challenge(event.data))
                except SaslError:
                    wire.append(conn.send(p.sasl_cancel()))
                else:
                    wire.append(conn.send(p.sasl_response(encode_response(answer))))
            elif isinstance(event, p.OkReply):
                try:
                    mech.check_success()
                    outcome.append("ok")
                except SaslError:
                    outcome.append("unverified")
            else:
                outcome.append(type(event).__name__)
        return wire, outcome

    def test_scram_sha256(self) -> None:
        """The RFC 7677 exchange, as POP3 lines (RFC 5034 §6 layout)."""
        mech = ScramSha256("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
        server = [
            b"+ " + base64.b64encode(SHA256_SERVER_FIRST) + b"\r\n",
            b"+ " + base64.b64encode(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") + b"\r\n",
            b"+OK logged in\r\n",
        ]
        wire, outcome = self.drive(mech, server)
        assert (
            wire[0]
            == b"AUTH SCRAM-SHA-256 "
            + base64.b64encode(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
            + b"\r\n"
        )
        assert wire[2] == b"\r\n"
        assert outcome == ["ok"]

    def test_hostile_challenge_cancelled(self) -> None:
        """A non-base64 challenge is answered with ``*`` (B.29)."""
        wire, outcome = self.drive(CramMd5("tim", "pw"), [b"+ %%%\r\n", b"-ERR cancelled\r\n"])
        assert wire == [b"AUTH CRAM-MD5\r\n", b"*\r\n"]
        assert outcome == ["ErrReply"]

    def test_scram_ok_without_proof(self) -> None:
        """+OK before the server proved itself is flagged (mutual auth)."""
        mech = ScramSha1("user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
        server = [b"+ " + base64.b64encode(SHA1_SERVER_FIRST) + b"\r\n", b"+OK\r\n"]
        assert self.drive(mech, server)[1] == ["unverified"]

    def test_secrets_not_in_trace(self) -> None:
        """The trace of every command sent hides the response data (C.35)."""
        mech = Plain("bob", "hunter2")
        command = p.auth(mech.name, mech.start())
        assert "hunter2" not in command.trace()
        assert base64.b64encode(b"\0bob\0hunter2").decode() not in command.trace()
