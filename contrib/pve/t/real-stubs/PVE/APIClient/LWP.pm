package PVE::APIClient::LWP;

# Stub of pve-apiclient's PVE::APIClient::LWP, which pve-storage's PBS
# plugin loads; the tests never talk to a backup server
# (t/lib/PVEEnv.pm).

1;
