"""Inputs of model/run: their wire shapes (``spec``) and decoders per modality (text, audio, image,
tensor). Decoding happens on the caller's handler thread, before batching, so that a corrupt file
fails only its own request."""
