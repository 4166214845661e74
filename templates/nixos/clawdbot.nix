# A hardened gateway reachable on the LAN. Secrets are files outside the store (agenix,
# sops-nix or /run/keys), handed to the service with systemd's LoadCredential; root talks
# to it with `clawdbot status`, `clawdbot devices`, `clawdbot pairing approve` ….
_: {
  services.clawdbot = {
    enable = true;
    openFirewall = true;
    # With sops-nix: gateway-token = config.sops.secrets."clawdbot/gateway-token".path;
    # with agenix: gateway-token = config.age.secrets.clawdbot-token.path; (docs/secrets.md)
    secrets = {
      gateway-token = "/run/keys/clawdbot-gateway-token";
      telegram-bot-token = "/run/keys/telegram-bot-token";
      anthropic-api-key = "/run/keys/anthropic-api-key";
    };
    settings = {
      gateway = {
        mode = "local";
        bind = "lan";
      };
      channels.telegram = {
        enabled = true;
        dmPolicy = "pairing";
      };
      agents.list = [
        {
          id = "main";
          default = true;
        }
      ];
    };
    # Copied into /var/lib/clawdbot/workspace before every start.
    workspace.documents."SOUL.md" = ''
      # Who you are
      The household's assistant: helpful, brief, careful with anything irreversible.
    '';
  };
}
