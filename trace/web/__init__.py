"""HTTP: blueprints for the public pages and log API, the portal, the regulators' audit, the JSON API."""
