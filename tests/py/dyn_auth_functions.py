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
