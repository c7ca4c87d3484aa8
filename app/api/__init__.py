"""HTTP only: routers, dependencies, problem+json. No domain rules here."""
