"""Pure data and rules: no I/O, no third-party SDKs."""
