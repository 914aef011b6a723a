"""Print where the demo service listens and how to log in (used by `make run`)."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from cases.models import Petition
from core.accounts import create_token, get_by_username
from server.cli import _db
from server.demo import DEMO_USERS


def main() -> None:
    """Print the URLs, the demo logins and a fresh admin API token."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    base = f"http://{args.host}:{args.port}"
    db = _db()
    lines = ["", "petition-intake is starting", f"  Web chat       {base}/", f"  Staff console  {base}/console/",
             f"  Status lookup  {base}/status", f"  API docs       {base}/docs",
             f"  Health         {base}/healthz"]
    with db.transaction() as session:
        admin = get_by_username(session, "admin")
        if admin is not None:
            token = create_token(session, user=admin)
            lines += ["", "Demo console logins (demo data only; change them before real use):"]
            lines += [f"  {u:<14} {p:<22} {r}" + (f" ({unit})" if unit else "") for u, p, r, unit in DEMO_USERS]
            lines += ["", "Admin API token for this run (Authorization: Bearer …):", f"  {token}",
                      f"  curl -H 'Authorization: Bearer {token}' {base}/api/v1/petitions"]
            first = session.scalar(select(Petition).order_by(Petition.id).limit(1))
            if first is not None:
                lines += ["", f"Try a staff lookup: {base}/api/v1/petitions/{first.tracking_no}"]
    print("\n".join(lines) + "\n", flush=True)


if __name__ == "__main__":
    main()
