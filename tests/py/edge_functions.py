"""Callbacks of a `function` router component, as Crossbar.io calls them: `fn(session, details)`."""

JOINED = []


def on_join(session, details):
    JOINED.append(details.session)
    session.register(lambda a, b: [a * b + 1, len(JOINED), session.config.extra.get("tag")],
                     "com.function.muladd")


def on_leave(session, details):
    pass
