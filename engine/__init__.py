"""The declarative endpoint engine: routes, validation and CRUD from the api_endpoints table."""
