"""The ``qualityloop`` command. Thin: every command parses its options and calls a service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from qualityloop.commands import assess, ops, relate, report, spc, tqm_index, worker
from qualityloop.commands.common import (
    JsonFlag,
    UnitOption,
    analysis_errors,
    console,
    emit,
    err_console,
    fail,
    find_unit,
    finite,
    fmt,
    records_of,
    reported,
    start_django,
)

app = typer.Typer(
    help="QualityLoop: run the quality system and relate TQM to customer retention.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Manage users, roles and API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
retention_app = typer.Typer(
    help="Customer retention on the app's own orders: cohorts, churn, BG/NBD and CLV.",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")
app.add_typer(tqm_index.app, name="tqm-index")
app.add_typer(assess.app, name="assess")
app.add_typer(relate.app, name="relate")
app.add_typer(spc.app, name="spc")
app.add_typer(worker.app, name="worker")
app.command("report")(report.report)
ops.register(app)


@app.command()
def kinds(as_json: JsonFlag = False) -> None:
    """List the record kinds that can be imported and exported, with their columns."""
    start_django()
    from qualityloop.services.record_kinds import KINDS

    data = [
        {
            "kind": k.name,
            "description": k.description,
            "columns": [
                {"name": c.name, "required": c.required, "expected": c.expected()}
                for c in k.columns
            ],
        }
        for k in KINDS
    ]
    table = Table("kind", "description", "required columns")
    for k in KINDS:
        table.add_row(k.name, k.description, ", ".join(c.name for c in k.columns if c.required))
    emit(data, as_json, table)


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="Record kind, e.g. customers (see `kinds`).")],
    file: Annotated[Path, typer.Argument(help="A .csv, .xlsx or .parquet file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report, change nothing.")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="Record this user as the author in the history.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import records from CSV, Excel or Parquet, upserting by external_id, all or nothing."""
    start_django()
    from qualityloop.services.importing import ImportFailed, import_file
    from qualityloop.services.users import find_user

    with reported(as_json, ValueError):
        author = find_user(user) if user else None
    try:
        report = import_file(kind, file, dry_run=dry_run, user=author)
    except ImportFailed as failure:
        problems = [p.as_dict() for p in failure.problems]
        fail(str(failure), as_json, problems)
    verb = "Would import" if dry_run else "Imported"
    emit(
        report.as_dict(), as_json,
        f"{verb} {report.rows} rows of {kind} from {file}: "
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged.",
    )


@app.command("export")
def export(
    kind: Annotated[str, typer.Argument(help="Record kind, e.g. customers (see `kinds`).")],
    file: Annotated[Path, typer.Argument(help="Where to write: .csv, .xlsx or .parquet.")],
    as_json: JsonFlag = False,
) -> None:
    """Export every record of a kind to CSV, Excel or Parquet (re-importable as it is)."""
    start_django()
    from qualityloop.services.exporting import ExportFailed, export_file

    with reported(as_json, ExportFailed):
        count = export_file(kind, file)
    emit({"ok": True, "kind": kind, "file": str(file), "rows": count}, as_json,
          f"Wrote {count} {kind} to {file}.")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Number of demo customers.", min=10)] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same data.")] = 7,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the web app afterwards.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    as_json: JsonFlag = False,
) -> None:
    """Create (or refresh) the demo organisation, then serve the web app."""
    start_django()
    from qualityloop.services.demo import generate_demo

    with _progress(as_json) as progress:
        summary = generate_demo(n_customers=customers, seed=seed, progress=progress)
    data = summary.as_dict()
    emit(data, as_json, _demo_text(data, host, port, serve_after))
    if serve_after:
        _serve(host, port, quiet=as_json)


def _demo_text(data: dict, host: str, port: int, serving: bool) -> str:
    counts = ", ".join(f"{v:,} {k}" for k, v in data["counts"].items())
    lines = [f"Demo organisation ready in {data['seconds']:.1f} s: {counts}."]
    if serving:
        lines.append(f"Open http://{host}:{port}/ and log in as "
                     f"[bold]{data['login']['username']}[/] / [bold]{data['login']['password']}[/]")
    logins = [("admin", data["login"]), ("viewer", data["viewer_login"]),
              *((who["role"], who) for who in data.get("role_logins", []))]
    lines.append("Logins (docs/roles.md says what each role may do):")
    lines += [f"  {role}: {who['username']} / {who['password']}" for role, who in logins if who]
    return "\n".join(lines)


class _progress:
    """A rich progress bar handed to services as ``progress(step, done, total)``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.description:<28}"), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=err_console, disable=self.quiet, transient=False,
        )
        self._bar.start()
        self._tasks: dict[str, Any] = {}
        return self._update

    def _update(self, step: str, done: float, total: float) -> None:
        if step not in self._tasks:
            self._tasks[step] = self._bar.add_task(step, total=total)
        self._bar.update(self._tasks[step], completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self._bar.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    production: Annotated[bool, typer.Option(
        "--production", help="Production server: worker processes, collected static files, "
        "secure settings from the environment (README: Production).")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes with --production (default: 2 per core + 1).")] = None,
    threads: Annotated[int | None, typer.Option(
        help="Threads per worker process with --production (default: 2).")] = None,
) -> None:
    """Start the web app (migrating the database first if needed)."""
    if production:
        _serve_production(host, port, workers, threads)
        return
    start_django()
    _serve(host, port)


def _serve_production(host: str, port: int, workers: int | None, threads: int | None) -> None:
    from qualityloop.web import server

    try:
        server.enter_production_mode()
        start_django()
        console.print(f"Serving QualityLoop (production) on http://{host}:{port}/  "
                      "(Ctrl+C to stop)")
        server.run_production(host, port, workers, threads)
    except server.ServerError as problem:
        fail(str(problem))


def _serve(host: str, port: int, quiet: bool = False) -> None:
    from qualityloop.web.server import run

    if not quiet:
        console.print(f"Serving QualityLoop on http://{host}:{port}/  (Ctrl+C to stop)")
    try:
        run(host, port)
    except OSError as problem:  # most often: the port is taken
        fail(f"cannot serve on {host}:{port}: {problem.strerror or problem}; "
              "choose another with --port")


@app.command()
def migrate(as_json: JsonFlag = False) -> None:
    """Create or upgrade the database (done automatically by every command)."""
    from qualityloop.web.bootstrap import migrate_if_needed

    start_django(migrate=False)
    applied = migrate_if_needed()
    from django.conf import settings

    name = str(settings.DATABASES["default"]["NAME"])
    emit({"applied": applied, "database": name}, as_json,
          f"Database {name} is up to date ({applied} migrations applied).")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, top-management, quality-manager, unit-lead, "
                                           "staff or viewer.")] = "viewer",
    password: Annotated[
        str | None, typer.Option(help="Password for the web login (default: API token only).")
    ] = None,
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create a user with a role and print an API token for `Authorization: Bearer TOKEN`."""
    start_django()
    from qualityloop.services.users import add_user

    with reported(as_json, ValueError):
        created = add_user(name, role, password=password, email=email)
    emit(
        {"username": created.username, "role": created.role, "token": created.token}, as_json,
        f"Created {created.username} ({created.role}).\nAPI token (shown once): {created.token}",
    )


UserName = Annotated[str, typer.Argument(help="Login name.")]


@user_app.command("set-role")
def user_set_role(
    name: UserName,
    role: Annotated[str, typer.Argument(help="admin, top-management, quality-manager, "
                                             "unit-lead, staff or viewer.")],
    as_json: JsonFlag = False,
) -> None:
    """Change a user's role; their rights in the web app, admin and API follow at once."""
    start_django()
    from qualityloop.services.users import set_role

    with reported(as_json, ValueError):
        set_role(name, role)
    emit({"username": name, "role": role}, as_json, f"{name} is now {role}.")


@user_app.command("list")
def user_list(as_json: JsonFlag = False) -> None:
    """List users with their role and active API tokens."""
    start_django()
    from qualityloop.services.users import list_users

    users = list_users()
    table = Table("user", "role", "active", "API tokens (name: scope)", "last login")
    for u in users:
        tokens = ", ".join(f"{t['name']}: {t['scope'] or '(none)'}" for t in u["tokens"])
        table.add_row(u["username"], u["role"] or "(none)", "yes" if u["active"] else "no",
                      tokens or "0", str(u["last_login"] or "never"))
    emit(users, as_json, table)


@user_app.command("token")
def user_token(
    name: UserName,
    token_name: Annotated[str, typer.Option("--name", help="A label for the token.")] = "cli",
    role: Annotated[str | None, typer.Option(
        help="Scope: the most the token may do, at most the user's role (e.g. viewer for a "
             "reporting tool). Default: the user's role.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new API token for a user (shown once)."""
    start_django()
    from qualityloop.services.users import issue_token

    with reported(as_json, ValueError):
        plain = issue_token(name, token_name, role=role)
    scope = role or "the user's role"
    emit({"username": name, "token": plain, "role": role}, as_json,
          f"API token for {name}, scope {scope} (shown once): {plain}")


@user_app.command("revoke")
def user_revoke(name: UserName, as_json: JsonFlag = False) -> None:
    """Revoke every API token of a user."""
    start_django()
    from qualityloop.services.users import revoke_tokens

    with reported(as_json, ValueError):
        count = revoke_tokens(name)
    emit({"username": name, "revoked": count}, as_json, f"Revoked {count} token(s) of {name}.")


@user_app.command("unlock-signing")
def user_unlock_signing(name: UserName, as_json: JsonFlag = False) -> None:
    """Lift a user's signature lock (too many wrong signature passwords) before it ends."""
    start_django()
    from qualityloop.services.signatures import unlock
    from qualityloop.services.users import find_user

    with reported(as_json, ValueError):
        forgotten = unlock(find_user(name))
    emit({"username": name, "forgotten_failures": forgotten}, as_json,
         f"Signing unlocked for {name} ({forgotten} wrong password(s) forgotten)." if forgotten
         else f"{name} had no wrong signature passwords to forget.")


# retention -------------------------------------------------------------------------------------

def _retention(unit_id: str | None, as_json: bool) -> Any:
    """Start Django and return the retention use cases, for one unit if asked."""
    start_django()
    from qualityloop.services.retention import RetentionOverview

    return RetentionOverview(unit=find_unit(unit_id, as_json))


@retention_app.command("summary")
def retention_summary(unit: UnitOption = None, as_json: JsonFlag = False) -> None:
    """Headline retention: customers, repeat purchase rate, churn, median survival by segment."""
    overview = _retention(unit, as_json)
    with reported(as_json, *analysis_errors()):
        data = overview.headline()
        survival = overview.survival_by_segment().summary()
    data = {k: finite(v) for k, v in data.items()}
    data["survival_by_segment"] = records_of(survival, "segment")
    table = Table("segment", "customers", "churned", "median days to churn (95% CI)")
    for row in data["survival_by_segment"]:
        median = "not reached" if row["median"] is None else f"{row['median']:.0f}"
        table.add_row(row["segment"], str(int(row["subjects"])), str(int(row["events"])),
                      f"{median} ({fmt(row['median_lower'], '.0f')}-"
                      f"{fmt(row['median_upper'], '.0f')})")
    churn = ("-" if data["churn_rate"] is None
             else f"{data['churn_rate']:.1%} (month starting {data['churn_period']})")
    text = (f"Customers with orders: {data['customers']:,}  orders: {data['orders']:,}\n"
            f"Repeat purchase rate: {data['repeat_purchase_rate']:.1%}\n"
            f"Purchase churn, latest complete month: {churn}\n"
            "  (share of the month before's buyers who bought nothing this month; customers\n"
            "  marked churned in the records are counted in the table below)")
    if as_json:
        emit(data, True)
    else:
        console.print(text)
        console.print(table)


@retention_app.command("cohorts")
def retention_cohorts(
    period: Annotated[str, typer.Option(help="Cohort period: D, W, M, Q or Y.")] = "M",
    cumulative: Annotated[bool, typer.Option(help="Count customers who bought in that period "
                                                  "or any later one.")] = False,
    kind: Annotated[str, typer.Option(help="first_time (cohort = first purchase) or recurring "
                                           "(every purchase period starts a cohort).")]
    = "first_time",
    unit: UnitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Cohort retention table: share of each cohort buying again k periods later."""
    overview = _retention(unit, as_json)
    with reported(as_json, *analysis_errors()):
        cohorts = overview.cohorts(period=period, kind=kind, cumulative=cumulative)
    rows: list[dict[str, Any]] = [
        {"cohort": str(label.date()), "size": int(cohorts.sizes[label]),
         "counts": [finite(v) for v in cohorts.counts.loc[label]],
         "rates": [finite(v) for v in cohorts.rates.loc[label]]}
        for label in cohorts.counts.index
    ]
    data = {"period": period, "kind": kind, "cumulative": cumulative, "cohorts": rows,
            "mean_curve": records_of(cohorts.mean_curve, "offset")}
    # As many offsets as fit the terminal (cohort and size take about 22 characters).
    shown = max(1, min(len(cohorts.rates.columns), (console.width - 22) // 7))
    table = Table(title=f"Retention by {kind.replace('_', '-')} cohort ({period})")
    table.add_column("cohort", no_wrap=True)
    table.add_column("size", no_wrap=True)
    for offset in cohorts.rates.columns[:shown]:
        table.add_column(str(offset), no_wrap=True, justify="right")
    for row in rows:
        table.add_row(row["cohort"], str(row["size"]),
                      *(fmt(r, ".0%") for r in row["rates"][:shown]))
    emit(data, as_json, table)


@retention_app.command("fit")
def retention_fit(
    freq: Annotated[str, typer.Option(help="Time unit of the models: D or W.")] = "W",
    unit: UnitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Fit BG/NBD (purchases, drop-out) and Gamma-Gamma (spend); print estimates with 95% CI."""
    overview = _retention(unit, as_json)
    with reported(as_json, *analysis_errors()):
        models = overview.fit_models(freq=freq)
    data: dict[str, Any] = {"freq": freq, "customers": len(models.summary),
                            "bg_nbd": records_of(models.beta_geo.summary(), "parameter"),
            "gamma_gamma": records_of(models.gamma_gamma.summary(), "parameter")}
    if as_json:
        emit(data, True)
        return
    for title, key in (("BG/NBD (purchases and drop-out)", "bg_nbd"),
                       ("Gamma-Gamma (spend per purchase)", "gamma_gamma")):
        table = Table("parameter", "estimate", "std. error", "95% CI",
                      title=f"{title}, {data['customers']:,} customers, time unit {freq}")
        for row in data[key]:
            table.add_row(row["parameter"], fmt(row["estimate"], ".4g"),
                          fmt(row["std_error"], ".4g"),
                          f"{fmt(row['lower'], '.4g')} - {fmt(row['upper'], '.4g')}")
        console.print(table)


@retention_app.command("clv")
def retention_clv(
    horizon: Annotated[int, typer.Option(help="Months ahead.", min=1)] = 12,
    discount_rate: Annotated[float, typer.Option(help="Discount rate per month.")] = 0.01,
    top: Annotated[int, typer.Option(help="How many customers to list.", min=1)] = 20,
    freq: Annotated[str, typer.Option(help="Time unit of the models: D or W.")] = "W",
    unit: UnitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Customers with the highest expected lifetime value (BG/NBD x Gamma-Gamma, discounted)."""
    overview = _retention(unit, as_json)
    with reported(as_json, *analysis_errors()):
        values = overview.clv(horizon=horizon, discount_rate=discount_rate, freq=freq)
    rows = records_of(values.head(top), "customer_id")
    data = {"horizon_months": horizon, "discount_rate": discount_rate, "freq": freq,
            "customers": len(values), "total_clv": finite(values["clv"].sum()),
            "top": rows}
    table = Table("customer", "P(alive)", "expected purchases", "spend per purchase", "CLV",
                  title=f"Top {len(rows)} of {len(values):,} customers by {horizon}-month CLV")
    for row in rows:
        table.add_row(row["customer_id"], fmt(row["probability_alive"], ".2f"),
                      fmt(row["expected_purchases"], ".1f"),
                      fmt(row["expected_spend"], ",.0f"), fmt(row["clv"], ",.0f"))
    emit(data, as_json, table)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
