"""The people wing: who is asking and what they may do.

``auth.py`` (identities, the permission table, CSRF), ``accounts.py`` (tokens,
sessions, sign-in), ``oidc.py`` (OpenID Connect login), ``tokens.py``
(``hubs-token``).
"""
