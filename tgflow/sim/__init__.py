"""Simulators of the TotalGest and Framework360 APIs: the embedded default and the tests' real peers."""

#: Credentials the simulators accept out of the box (``tgflow dev`` wires these in).
DEMO_TG_SHOP_ID = "1001"
DEMO_TG_OWNER_ID = "42"
DEMO_TG_USERNAME = "demo"
DEMO_TG_PASSWORD = "demo-password"
DEMO_F360_API_KEY = "f360-demo-api-key"
DEMO_F360_WEBHOOK_SECRET = "demo-webhook-secret-0123456789"
