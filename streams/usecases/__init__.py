"""What the platform does for agencies beyond the SDK: checking consent before a referral or hand-over is
published (the gateway's consent gate), erasing a client (`kim erase`), and publishing many agencies' events
in order (`kim publish`, `kim simulate --publish`, `kim demo`)."""
