"""popview/ui/textual_adapter.py: the one place that leans on Textual internals.

These fail when a Textual release moves what the adapter relies on, instead of
letting the crash screen quietly show local variables again (HARDENING C.35).
"""

from __future__ import annotations

import inspect
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Static

from popview.ui.textual_adapter import (
    FATAL_ERROR_HOOK,
    CrashScreenWithoutLocals,
    FooterKey,
    bindings_in_reach,
    footer_bindings_ready,
    resize_virtual,
    screen_text,
)

REPO = Path(__file__).resolve().parent.parent
ADAPTER = REPO / "popview" / "ui" / "textual_adapter.py"
SECRET = "pw-in-a-local-4711"
# Private Textual names popview once used, and any import from a private Textual module.
PRIVATE_TEXTUAL = re.compile(
    r"\._(fatal_error|exit_renderables|close_messages_no_wait|compositor|notifications"
    r"|toggle_cursor|print_error_renderables|cursor_visible|blink_timer|modal_binding_chain)\b"
    r"|from textual(\.\w+)*\._\w+ import|import textual(\.\w+)*\._"
)


class Crashing(CrashScreenWithoutLocals):
    def compose(self) -> ComposeResult:
        yield Static("hello from the adapter test", id="greeting")

    def on_mount(self) -> None:
        self.set_timer(0.01, self.crash)

    def crash(self) -> None:
        password = SECRET
        raise RuntimeError(f"forced crash, {len(password)} characters")


class TestTheHook:
    def test_textual_still_calls_the_hook_for_an_unhandled_exception(self) -> None:
        assert callable(getattr(App, FATAL_ERROR_HOOK, None))
        source = inspect.getsource(App._handle_exception)
        assert f"self.{FATAL_ERROR_HOOK}()" in source

    def test_textual_itself_would_show_the_locals(self) -> None:
        """What the override is for: if this stops holding, the adapter may go."""
        assert "show_locals=True" in inspect.getsource(getattr(App, FATAL_ERROR_HOOK))

    async def test_the_crash_screen_names_the_error_without_locals(self) -> None:
        app = Crashing()
        app.error_console = Console(file=io.StringIO(), width=120, color_system=None)
        with pytest.raises(RuntimeError, match="forced crash"):
            async with app.run_test() as pilot:
                await pilot.pause(0.2)
        shown = app.error_console.file.getvalue()  # type: ignore[attr-defined]
        assert "RuntimeError: forced crash, 18 characters" in shown
        assert "Traceback" in shown
        assert SECRET not in shown


class TestScreenText:
    async def test_reads_what_is_drawn(self) -> None:
        class Hello(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("hello from the adapter test")

        app = Hello()
        async with app.run_test(size=(60, 5)) as pilot:
            await pilot.pause()
            lines = screen_text(app.screen).splitlines()
        assert len(lines) == 5
        assert lines[0].startswith("hello from the adapter test")


class TestBindingsInReach:
    async def test_a_binding_hidden_by_check_action_is_still_found(self) -> None:
        """The adapter sees a binding that check_action hides (active_bindings does not)."""
        from textual.binding import Binding

        class Hidden(App[None]):
            BINDINGS = [Binding("x", "nothing", "Nothing", id="test.nothing")]  # noqa: RUF012

            def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
                return action != "nothing"

        app = Hidden()
        async with app.run_test() as pilot:
            await pilot.pause()
            assert "x" not in app.screen.active_bindings
            found = {key: b.id for key, b in bindings_in_reach(app.screen)}
        assert found.get("x") == "test.nothing"

    def test_footer_key_is_what_the_footer_draws(self) -> None:
        from textual.widget import Widget

        assert issubclass(FooterKey, Widget)
        assert "FooterKey(" in inspect.getsource(
            __import__("textual.widgets", fromlist=["Footer"]).Footer.compose
        )

    async def test_footer_still_waits_for_its_bindings_the_way_the_adapter_reads(self) -> None:
        from textual.app import App
        from textual.widgets import Footer

        assert "_bindings_ready" in inspect.getsource(Footer.compose)
        app: App[None] = App()
        async with app.run_test() as pilot:
            footer = Footer()
            assert footer_bindings_ready(footer) is False  # not mounted: no bindings yet
            await app.mount(footer)
            app.screen.refresh_bindings()  # what a screen does when its keys may change
            for _ in range(50):
                if footer_bindings_ready(footer):
                    break
                await pilot.pause(0.02)
            assert footer_bindings_ready(footer) is True


class TestResizeVirtual:
    async def test_grows_the_scroll_range_and_lays_out_only_for_a_new_scrollbar(self) -> None:
        from textual.geometry import Size
        from textual.scroll_view import ScrollView

        class Tall(App[None]):
            def compose(self) -> ComposeResult:
                yield ScrollView(id="view")

        app = Tall()
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(ScrollView)
            layouts: list[bool] = []
            refresh = view.refresh

            def counted(*args: object, layout: bool = False, **kwargs: object) -> object:
                layouts.append(layout)
                return refresh(*args, layout=layout, **kwargs)  # type: ignore[arg-type]

            view.refresh = counted  # type: ignore[method-assign]
            resize_virtual(view, Size(40, 100))  # the vertical scrollbar appears
            assert True in layouts and view.show_vertical_scrollbar
            await pilot.pause()
            layouts.clear()
            resize_virtual(view, Size(40, 5000))  # the same scrollbar, a longer range
            assert True not in layouts
            assert view.virtual_size == Size(40, 5000)
            assert view.vertical_scrollbar.window_virtual_size == 5000
            view.scroll_to(y=4000, animate=False, immediate=True)
            assert view.scroll_offset.y == 4000  # reachable without a layout in between


class TestOnlyTheAdapter:
    def test_no_private_textual_name_outside_the_adapter(self) -> None:
        found: list[str] = []
        for root in (REPO / "popview", REPO / "tests"):
            for path in root.rglob("*.py"):
                if path in (ADAPTER, Path(__file__).resolve()):
                    continue
                for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                    if PRIVATE_TEXTUAL.search(line):
                        found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
        assert found == []

    def test_no_private_textual_attribute_outside_the_adapter(self) -> None:
        """No class of ours reads, writes or shadows a ``_``-name a Textual base defines
        (class attributes and reactives, and attributes Textual's own code assigns):
        the import check above cannot see ``self._bindings_ready``."""
        import importlib
        import pkgutil

        import popview.ui

        sources: dict[type, str] = {}

        def source(cls: type) -> str:
            if cls not in sources:
                try:
                    sources[cls] = inspect.getsource(cls)
                except (OSError, TypeError):
                    sources[cls] = ""
            return sources[cls]

        found: list[str] = []
        for info in pkgutil.walk_packages(popview.ui.__path__, "popview.ui."):
            if info.name == "popview.ui.textual_adapter":
                continue
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                textual = [b for b in cls.__mro__ if b.__module__.startswith("textual")]
                if cls.__module__ != module.__name__ or not textual:
                    continue
                for name in set(re.findall(r"self\.(_[A-Za-z]\w*)", source(cls))):
                    assigned = re.compile(rf"self\.{name}\s*(:[^=\n]*)?=[^=]")
                    if any(name in vars(b) or assigned.search(source(b)) for b in textual):
                        found.append(f"{info.name}.{cls.__qualname__}: self.{name}")
        assert found == []
