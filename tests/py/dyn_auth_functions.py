"""Crossbar.io `function` authenticators for tests/tests/dynamic_auth.rs: `create(config,
controller)` is called once and returns `authenticate(realm, authid, details)`."""
from autobahn.wamp.exception import ApplicationError


def create_ticket_authenticator(config, controller):
    secrets = config["secrets"]

    def authenticate(realm, authid, details):
        if secrets.get(authid) != details["ticket"]:
            raise ApplicationError("com.example.invalid_ticket", "wrong ticket for {}".format(authid))
        return {"role": "user", "extra": {"config_keys": sorted(config), "realm": realm}}

    return authenticate


def create_wampcra_authenticator(config, controller):
    def authenticate(realm, authid, details):
        return {"secret": authid + "-secret", "role": "frontend"}

    return authenticate


def create_tls_authenticator(config, controller):
    """WAMP-TLS by function (crossbar-edge only: Crossbar.io accepts the config and then denies
    every such login): the principal is chosen by the client certificate's common name."""
    users = config["users"]

    def authenticate(realm, authid, details):
        cert = details["transport"].get("peer_cert") or {}
        cn = (cert.get("subject") or {}).get("cn")
        if cn not in users:
            raise ApplicationError("com.example.unknown_certificate", "no user for certificate {}".format(cn))
        return {"role": "user", "authid": users[cn], "extra": {"sha1": cert.get("sha1")}}

    return authenticate
