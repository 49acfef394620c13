"""The dashboard's pages on a FastAPI app: `/`, `/funnel`, `/time-to-value`, `/drop-off`, `/retention`, `/milestones`,
`/nudges`, `/accounts`, `/accounts/{id}`, `/users/{id}`, each with the filters (`as_of`, `segment`, the signup range
`from`/`to`) as query parameters.

Results come from `Project` methods run on one thread with its own connection (the server's reader, or the
dashboard's own), and are cached by definitions hash, data version, analysis and filters: a new import or a changed
definitions file is a new key, so a page never shows stale numbers and a repeated view costs one metadata read.
Off the loopback interface every page asks for a read key (HTTP Basic, the key as user name, or `Bearer`). On it no
key is asked, so a page answers only a request whose Host is a loopback name (`127.0.0.1`, `[::1]`, `localhost`):
a site the user visits can point its own name at 127.0.0.1 (DNS rebinding), and its script would then read every page
and the notes form's token as "same origin".
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import markupsafe
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aha.errors import UserError
from aha.guidance.checklist import UnknownEntity
from aha.ingest import bodies
from aha.store.database import Store
from aha.surfaces.visible import visible
from aha.surfaces.web import views
from aha.surfaces.web.views import Filters

Build = Callable[[Filters], Awaitable[dict[str, Any]]]
Run = Callable[[Callable[[Store], Any]], Awaitable[Any]]
CACHE_SIZE = 64
ACCOUNTS_SHOWN = 50  # accounts listed on /accounts (all are ranked; the page says how many there are)
REFRESH_SECONDS = 2  # how often a page whose slow part is being computed reloads itself
log = logging.getLogger("aha.dashboard")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The pages hold no script: a policy that forbids every script, fetch and frame is defence in depth against markup
# that escaping missed (the same policy is a <meta> in the HTML report file).
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}


class Results:
    """`Project.<analysis>(**options)` on the reader thread, cached (the cache is only touched on that thread).

    A slow part of a page (discovery) can run in the `background`: the page is rendered at once without it, says it
    is being computed and reloads itself; the reload finds it cached. The tasks and failures live on the event loop.
    """

    def __init__(self, run: Run, definitions: Callable[[], Any]) -> None:
        self.run, self.definitions = run, definitions
        self.cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.misses = 0
        self.running: dict[Hashable, asyncio.Task[Any]] = {}
        self.failed: dict[Hashable, str] = {}

    async def get(self, analysis: str, **options: Any) -> Any:
        return await self._get(analysis, options, compute=True)

    async def cached(self, analysis: str, **options: Any) -> Any:
        """The cached result, or None when it is not (yet) computed for this data and these definitions."""
        return await self._get(analysis, options, compute=False)

    def background(self, name: Hashable, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Start `work` unless it runs already; a failure is kept for the next request to report (`failure`)."""
        if name in self.running:
            return

        def done(task: asyncio.Task[Any]) -> None:
            del self.running[name]
            if task.cancelled():
                return
            exc = task.exception()
            if isinstance(exc, UserError):
                self.failed[name] = str(exc)
            elif exc is not None:
                log.error("background analysis %r failed", name, exc_info=exc)
                self.failed[name] = f"computing it failed ({type(exc).__name__}); see the server's log."

        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(work())
        self.running[name] = task
        task.add_done_callback(done)

    def failure(self, name: Hashable) -> str | None:
        """Why the last background run of `name` failed (once: the next request tries again)."""
        return self.failed.pop(name, None)

    async def _get(self, analysis: str, options: dict[str, Any], compute: bool) -> Any:
        definitions = self.definitions()

        def run(store: Store) -> Any:
            from aha.definitions import content_hash
            from aha.project import Project

            key = (content_hash(definitions), store.data_version, analysis, tuple(sorted(options.items())))
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
            if not compute:
                return None
            self.misses += 1
            result = getattr(Project(store, definitions, None), analysis)(**options)
            self.cache[key] = result
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
            return result

        return await self.run(run)


def warm_imports() -> None:
    """Import the statistics libraries (SciPy, statsmodels and pandas: about a second) when the app is made, not
    during its first page. Not on a thread beside the pages: Altair looks pandas up in `sys.modules` and failed on a
    half-imported one ("partially initialized module 'pandas'") while another thread was importing it."""
    import scipy.stats  # noqa: F401
    import statsmodels.stats.proportion  # noqa: F401
    from statsmodels.stats.contingency_tables import Table2x2  # noqa: F401


def loopback_name(host: str | None) -> bool:
    """Whether a Host header names this machine: a loopback address, `localhost` or a name under `.localhost` (RFC
    6761: browsers resolve those to loopback themselves). No Host at all is not a browser (HTTP/1.0 tools): allowed."""
    if host is None:
        return True
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    if not name:
        return False
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def foreign_host(host: str) -> HTMLResponse:
    shown = markupsafe.escape(visible(host[:200]))
    return HTMLResponse(
        "This dashboard asks no key on the loopback interface, so it answers only to a loopback name "
        f"(127.0.0.1, [::1] or localhost); this request named the host '{shown}'. A page of another site "
        "can reach a local server under its own name (DNS rebinding), so such requests are refused. To serve the "
        "dashboard under another name, listen on that interface with --host and give readers a key "
        "(`aha keys create --kind read`).", status_code=403, headers=HEADERS)


def cross_site(request: Request) -> HTMLResponse | None:
    """A 403 for a request another site's page made (Fetch Metadata: `Sec-Fetch-Site`, which browsers set and pages
    cannot): an `<img>`, a form or a script's fetch on any site the user visits reached a local dashboard under its
    own loopback name (and off loopback with the browser's saved key), so every such page could make it compute: a
    thousand images naming a thousand `as_of` values queued a thousand analyses and discoveries on the one reader
    (hours of it, the server's read API and rules waiting behind them). A top-level navigation (a link, a bookmark) is
    still served, as are requests from the dashboard's own pages and from clients that send no such header."""
    site = request.headers.get("sec-fetch-site")
    if site is None or site in ("same-origin", "none"):
        return None
    if (request.method in ("GET", "HEAD") and request.headers.get("sec-fetch-mode") == "navigate"
            and request.headers.get("sec-fetch-dest") == "document"):
        return None
    return HTMLResponse("A page of another site asked for this dashboard page (Sec-Fetch-Site: "
                        f"{markupsafe.escape(visible(site[:40]))}); only the dashboard's own pages and links opened "
                        "in the browser are answered. Open the dashboard's address yourself.", status_code=403,
                        headers=HEADERS)


def key_checker(require_key: bool, check: Callable[[str], bool]) -> Callable[[Request], HTMLResponse | None]:
    """None when the request may read; otherwise a 401 that makes a browser ask for the key (off loopback), or a 403
    for a Host that is not a loopback name (on loopback, where no key is asked: see the module docstring)."""

    def guard(request: Request) -> HTMLResponse | None:
        if (refused := cross_site(request)) is not None:
            return refused
        if not require_key:
            host = request.headers.get("host")
            return None if loopback_name(host) else foreign_host(host or "")
        key = bodies.key_from_header(request.headers.get("authorization"))
        if key is not None and check(key):
            return None
        return HTMLResponse("A read key is needed: enter it as the user name (create one with "
                            "`aha keys create --kind read`).", status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="aha dashboard"'})

    return guard


def read_key_check(keyring: Callable[[], Any], local_token: str | None = None) -> Callable[[str], bool]:
    def check(key: str) -> bool:
        if local_token and hmac.compare_digest(key.encode(), local_token.encode()):
            return True
        found = keyring().check(key) if keyring() is not None else None
        return found is not None and found[1] == "read"

    return check


def add_routes(app: FastAPI, results: Results, guard: Callable[[Request], HTMLResponse | None]) -> None:
    import threading

    from aha.surfaces.web import charts, notes  # notes mounts its form on these pages' guard and results

    warm_imports()  # before any thread starts: see its docstring
    threading.Thread(target=charts.warm, name="aha-charts-warm", daemon=True).start()

    def page(path: str, filters: Filters, status: int = 200, **context: Any) -> HTMLResponse:
        html = views.render("page.html", served=True, path=path, filters=filters, sections=(), **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    async def show(request: Request, path: str, title: str, view: str, build: Build) -> HTMLResponse:
        refused = guard(request)
        if refused is not None:
            return refused
        filters = Filters()
        try:
            filters = Filters.parse(request.query_params)
            context = await build(filters)
            context["signups"] = await results.get("signups", as_of=filters.as_of, signups_from=filters.signups_from,
                                                   signups_to=filters.signups_to)
        except UserError as exc:
            status = 404 if isinstance(exc, UnknownEntity) else 422
            return page(path, filters, status, title=title, view="error", message=str(exc))
        return page(path, filters, title=title, view=view, **context)

    async def report(f: Filters) -> Any:
        return await results.get("report", **f.options(), order=f.order, include_immature=f.include_immature)

    def route(path: str, title: str, view: str, build: Build) -> None:
        async def handler(request: Request) -> HTMLResponse:
            return await show(request, path, title, view, build)

        handler.__name__ = f"page_{view.replace('-', '_')}"
        app.get(path, response_class=HTMLResponse, include_in_schema=False)(handler)

    async def overview(f: Filters) -> dict[str, Any]:
        return views.overview(await report(f))

    forms = notes.NoteForms(results)
    notes.add_routes(app, forms, guard)

    async def funnel(f: Filters) -> dict[str, Any]:
        return views.funnel(await report(f))

    async def drop_off(f: Filters) -> dict[str, Any]:
        found = await results.get("paths", **f.options())
        return {**views.drop_off(found), **notes.context(forms, await forms.by_step()), "back": "/drop-off" + f.query()}

    async def time_to_value(f: Filters) -> dict[str, Any]:
        return views.time_to_value(await report(f))

    async def retention(f: Filters) -> dict[str, Any]:
        return views.retention(await results.get("retention", **f.options()))

    async def milestones(f: Filters) -> dict[str, Any]:
        # Discovery runs over every user in the range (its --segment is one KEY=VALUE, not a breakdown); it is the
        # slowest analysis: in the background on a cache miss (the page shows the rest at once and reloads itself),
        # once per cache key, and scoring reuses it rather than running it again.
        signups = {"as_of": f.as_of, "signups_from": f.signups_from, "signups_to": f.signups_to}
        chosen = {**signups, "outcome": f.outcome}
        context = views.milestones(await results.get("evaluate", **f.options()),
                                   await results.get("revalidate", **f.options()))
        name = ("milestones", tuple(sorted(chosen.items())), f.window)
        failed = results.failure(name)
        if failed is not None:
            raise UserError(f"discovery ({f.outcome}, {f.window} d): {failed}")
        found = await results.cached("discover", **chosen, window=f.window)
        scoring = await results.cached("score", **chosen, discovery=found) if found is not None else None
        if found is None or scoring is None:
            async def slow() -> None:
                await results.get("score", **chosen, discovery=await results.get("discover", **chosen,
                                                                                  window=f.window))

            results.background(name, slow)
            return {**context, "computing": True, "refresh": REFRESH_SECONDS}
        return views.milestones(context["validation"], context["revalidation"], found, scoring)

    async def nudges_page(f: Filters) -> dict[str, Any]:
        from aha.surfaces.web import nudges

        definitions = results.definitions()  # read fresh: rules record firings without a new data version
        return nudges.context(await results.run(lambda store: nudges.read(store, definitions, f.as_of)))

    route("/", "Overview", "overview", overview)
    route("/funnel", "Funnel", "funnel", funnel)
    route("/time-to-value", "Time to value", "time-to-value", time_to_value)
    route("/drop-off", "Drop-off", "drop-off", drop_off)
    route("/retention", "Retention", "retention", retention)
    route("/milestones", "Milestones", "milestones", milestones)
    route("/nudges", "Nudges", "nudges", nudges_page)

    @app.get("/accounts", response_class=HTMLResponse, include_in_schema=False)
    async def accounts_page(request: Request) -> HTMLResponse:
        """Accounts by highest signal and PQL score (`?signal=` keeps those holding one), and each signal against
        account conversion (`aha accounts`, `aha evaluate --signals`)."""
        if request.query_params.get("id") in views.DOT_SEGMENTS:  # an account no path can name (views.page_of)
            return await account_page(request.query_params["id"], request)
        signal = request.query_params.get("signal", "").strip() or None

        async def build(f: Filters) -> dict[str, Any]:
            if signal is not None and len(signal) > 256:
                raise UserError("signal: longer than 256 characters")
            context = {"accounts": await results.get("accounts", signal=signal, top=ACCOUNTS_SHOWN, as_of=f.as_of),
                       "signals": results.definitions().signals, "signals_result": None, "signals_problem": None}
            if not context["signals"]:
                context["signals_problem"] = ("No signals in the definitions: add `signals:` to aha.yaml "
                                              "(docs/definitions.md, \"Signals\").")
            else:
                try:
                    context["signals_result"] = await results.get("evaluate_signals", as_of=f.as_of)
                except UserError as exc:
                    context["signals_problem"] = str(exc)
            return context

        return await show(request, "/accounts", "Accounts", "accounts", build)

    @app.get("/accounts/{account_id:path}", response_class=HTMLResponse, include_in_schema=False)
    async def account_page(account_id: str, request: Request) -> HTMLResponse:
        async def build(f: Filters) -> dict[str, Any]:
            if len(account_id) > 1024:
                raise UserError("account id: longer than 1024 characters")
            try:
                return {"account": await results.get("account", account_id=account_id, as_of=f.as_of)}
            except UnknownEntity:
                raise
            except UserError as exc:  # no such account as of that time: a 404, as for a user
                raise UnknownEntity(str(exc)) from None

        return await show(request, views.page_of(account_id, "accounts").split("?")[0], f"Account {account_id}",
                          "account", build)

    @app.get("/users", response_class=HTMLResponse, include_in_schema=False, response_model=None)
    async def user_search(request: Request) -> Response:
        """A search form; with `?id=`, the user's page (ids are quoted into the path, any character allowed)."""
        wanted = request.query_params.get("id", "").strip()
        if wanted in views.DOT_SEGMENTS:  # a redirect to /users/.. would be resolved away: the page itself
            return await user_page(wanted, request)
        if wanted and guard(request) is None:
            kept = {k: v for k, v in request.query_params.items() if k != "id"}
            query = "?" + urlencode(kept) if kept else ""
            return RedirectResponse(f"/users/{quote(wanted, safe='')}{query}", status_code=303)

        async def build(f: Filters) -> dict[str, Any]:
            return {}

        return await show(request, "/users", "Users", "users", build)

    @app.get("/users/{user_id:path}", response_class=HTMLResponse, include_in_schema=False)
    async def user_page(user_id: str, request: Request) -> HTMLResponse:
        async def build(f: Filters) -> dict[str, Any]:
            if len(user_id) > 1024:
                raise UserError("user id: longer than 1024 characters")
            return {"checklist": await results.get("user_state", user_id=user_id, as_of=f.as_of),
                    "timeline": await results.get("user_timeline", user_id=user_id, as_of=f.as_of)}

        return await show(request, views.page_of(user_id, "users").split("?")[0], f"User {user_id}", "user", build)
