"""Encoders for what tasks return as files: WAV for synthesised speech."""
