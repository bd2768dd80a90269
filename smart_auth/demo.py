"""The demo client and accounts ``make run`` seeds next to the demo data (once each).

A sponsor (premium) who may act for the two children, a spouse (premium) and a basic account;
one public SMART app. The passwords are printed on start: they are for a local demo only.
"""

from __future__ import annotations

import time

from fhir_server.config import Settings
from smart_auth.passwords import hash_password
from smart_auth.records import Assurance, Client, ClientKind, User
from smart_auth.service import open_auth_store

DEMO_CLIENT_ID = "mhs-demo-app"
DEMO_REDIRECT_URI = "http://127.0.0.1:9090/callback"
DEMO_PASSWORD = "Demo-Password-2026!"
DEMO_ACCOUNTS = (
    ("demo.sponsor", "Luis Garcia", "1234567890", "Patient/demo-sponsor", Assurance.PREMIUM),
    ("demo.spouse", "Maria Garcia", "1234567891", "Patient/demo-spouse", Assurance.PREMIUM),
    ("demo.basic", "Mateo Garcia", "1234567893", "Patient/demo-teen", Assurance.BASIC),
)


def seed_demo_accounts(settings: Settings) -> list[str]:
    """Create what is missing; return the lines that tell a person how to sign in."""
    store = open_auth_store(settings.database_url)
    store.open()
    try:
        if store.get_client(DEMO_CLIENT_ID) is None:
            store.put_client(
                Client(
                    client_id=DEMO_CLIENT_ID,
                    name="MHS demo app",
                    kind=ClientKind.PUBLIC,
                    scope="launch launch/patient openid fhirUser offline_access online_access"
                    " patient/*.cruds user/*.rs",
                    redirect_uris=(DEMO_REDIRECT_URI,),
                    created=time.time(),
                )
            )
        for username, name, dod_id, fhir_user, assurance in DEMO_ACCOUNTS:
            if store.get_user(username) is None:
                store.put_user(
                    User(
                        username=username,
                        password_hash=hash_password(DEMO_PASSWORD),
                        name=name,
                        dod_id=dod_id,
                        fhir_user=fhir_user,
                        assurance=assurance,
                        created=time.time(),
                    )
                )
    finally:
        store.close()
    auth = settings.base_url.split("/fhir")[0] + "/auth"
    return [
        "demo SMART app: client_id "
        f"{DEMO_CLIENT_ID} (public, PKCE S256), redirect_uri {DEMO_REDIRECT_URI}",
        f"  authorize at {auth}/authorize with aud={settings.base_url}",
        "demo accounts (password "
        + DEMO_PASSWORD
        + "): "
        + ", ".join(f"{u} ({a.value})" for u, _, _, _, a in DEMO_ACCOUNTS),
    ]
