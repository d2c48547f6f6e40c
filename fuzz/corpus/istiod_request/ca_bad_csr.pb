
K-----BEGIN CERTIFICATE REQUEST-----
AAAA
-----END CERTIFICATE REQUEST-----
ê"C
A
ImpersonatedIdentity)'spiffe://cluster.local/ns/demo/sa/sleep