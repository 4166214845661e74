# Builtins-only helpers for the modules: everything here evaluates without nixpkgs, so
# tier A tests cover it on any machine (tests/nix/lib-tests.nix).
let
  inherit (builtins)
    attrNames
    concatMap
    filter
    isAttrs
    isList
    isString
    listToAttrs
    substring
    ;
  # Key names whose string values are secrets (the gateway's redaction list, short form).
  secretNames = [
    "token"
    "password"
    "botToken"
    "appToken"
    "userToken"
    "apiKey"
    "webhookSecret"
  ];
in
rec {
  # Drops null attributes recursively, so unset typed options do not reach the JSON.
  stripNulls =
    v:
    if isAttrs v then
      listToAttrs (
        concatMap (
          n:
          if v.${n} == null then
            [ ]
          else
            [
              {
                name = n;
                value = stripNulls v.${n};
              }
            ]
        ) (attrNames v)
      )
    else if isList v then
      map stripNulls v
    else
      v;

  isStorePath = p: substring 0 11 (toString p) == "/nix/store/";

  # Dot paths of secrets written inline into settings (they would land in the store).
  inlineSecrets =
    let
      walk =
        prefix: v:
        if isAttrs v then
          concatMap (
            n:
            let
              path = if prefix == "" then n else "${prefix}.${n}";
            in
            if builtins.elem n secretNames && isString v.${n} && v.${n} != "" then
              [ path ]
            else
              walk path v.${n}
          ) (attrNames v)
        else
          [ ];
    in
    walk "";

  # Secret name → the config key that takes its file (the gateway also reads
  # gateway-token / gateway-password straight from $CREDENTIALS_DIRECTORY).
  secretKeys = {
    gateway-token = [
      "gateway"
      "auth"
      "tokenFile"
    ];
    gateway-password = [
      "gateway"
      "auth"
      "passwordFile"
    ];
    telegram-bot-token = [
      "channels"
      "telegram"
      "tokenFile"
    ];
    discord-bot-token = [
      "channels"
      "discord"
      "tokenFile"
    ];
  };

  # Settings with each known secret's file key pointing at `fileFor name`.
  withSecretFiles =
    settings: fileFor: secrets:
    let
      known = filter (n: secretKeys ? ${n}) (attrNames secrets);
      set =
        acc: path: value:
        if path == [ ] then
          value
        else
          let
            head = builtins.head path;
          in
          acc
          // {
            ${head} = set (acc.${head} or { }) (builtins.tail path) value;
          };
    in
    builtins.foldl' (acc: n: set acc secretKeys.${n} (fileFor n)) settings known;

  # Model provider keys: a secret named `<provider>-api-key` reaches the gateway as
  # `<PROVIDER>_API_KEY_FILE` (`openrouter-api-key` → OPENROUTER_API_KEY_FILE), the file
  # form of the env var each provider reads. (Under systemd the gateway also finds the
  # credential by name; the variable makes both platforms behave the same.)
  apiKeyEnv =
    fileFor: secrets:
    let
      suffix = "-api-key";
      isKey = n: builtins.match ".+-api-key" n != null;
      provider = n: builtins.substring 0 (builtins.stringLength n - builtins.stringLength suffix) n;
      var = n: builtins.replaceStrings [ "-" ] [ "_" ] (upper (provider n)) + "_API_KEY_FILE";
      upper =
        s:
        builtins.replaceStrings (builtins.genList (
          i: builtins.substring i 1 "abcdefghijklmnopqrstuvwxyz"
        ) 26) (builtins.genList (i: builtins.substring i 1 "ABCDEFGHIJKLMNOPQRSTUVWXYZ") 26) s;
    in
    builtins.listToAttrs (
      map (n: {
        name = var n;
        value = fileFor n;
      }) (filter isKey (attrNames secrets))
    );

  # systemd LoadCredential= entries ("name:path").
  credentials = secrets: map (n: "${n}:${toString secrets.${n}}") (attrNames secrets);

  # The service environment: Nix mode on, config and state where the module put them.
  serviceEnvironment =
    {
      stateDir,
      configPath,
      logLevel ? null,
    }:
    {
      CLAWDBOT_NIX_MODE = "1";
      CLAWDBOT_STATE_DIR = stateDir;
      CLAWDBOT_CONFIG_PATH = configPath;
    }
    // (if logLevel == null then { } else { CLAWDBOT_LOG = logLevel; });

  # Assertions both modules make: secrets are files outside the store, never inline.
  secretAssertions = cfg: [
    {
      assertion = builtins.all (p: !isStorePath p) (builtins.attrValues cfg.secrets);
      message = "services.clawdbot.secrets: a secret file is inside /nix/store, which is world-readable; point it at a file outside the store (agenix, sops-nix, /run/keys or ~/.secrets).";
    }
    {
      assertion = inlineSecrets cfg.settings == [ ];
      message = "services.clawdbot.settings contains inline secrets (${builtins.concatStringsSep ", " (inlineSecrets cfg.settings)}); they would be copied into the world-readable store. Use services.clawdbot.secrets instead.";
    }
  ];

  # Is this bind reachable from other machines?
  isPublicBind = bind: bind != null && bind != "loopback";
}
