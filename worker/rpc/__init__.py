"""The wire: framing (bytes to frames) and codec (frames to typed JSON-RPC messages)."""
