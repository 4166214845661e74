# A hardened gateway reachable on the LAN; the token is a file outside the store
# (agenix, sops-nix or /run/keys), passed with systemd's LoadCredential.
_: {
  services.clawdbot = {
    enable = true;
    openFirewall = true;
    secrets.gateway-token = "/run/keys/clawdbot-gateway-token";
    settings = {
      gateway = {
        mode = "local";
        bind = "lan";
      };
      agents.list = [
        {
          id = "main";
          default = true;
        }
      ];
    };
  };
}
