"""Who is calling: access keys, SigV4 verification, and the modes that decide how strictly."""
