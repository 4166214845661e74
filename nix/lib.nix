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
  # Endings of key names whose string values are secrets, compared lowercased with `-`
  # and `_` removed: the gateway's redaction rule (src/config/schema/redact.rs
  # SECRET_ENDINGS; a test keeps the two lists equal).
  secretEndings = [
    "token"
    "password"
    "passwd"
    "secret"
    "apikey"
    "accesskey"
    "privatekey"
    "secretkey"
    "signingkey"
    "passphrase"
    "credential"
    "credentials"
    "cookie"
    "authorization"
  ];
  upper = [
    "A"
    "B"
    "C"
    "D"
    "E"
    "F"
    "G"
    "H"
    "I"
    "J"
    "K"
    "L"
    "M"
    "N"
    "O"
    "P"
    "Q"
    "R"
    "S"
    "T"
    "U"
    "V"
    "W"
    "X"
    "Y"
    "Z"
    "-"
    "_"
  ];
  lower = [
    "a"
    "b"
    "c"
    "d"
    "e"
    "f"
    "g"
    "h"
    "i"
    "j"
    "k"
    "l"
    "m"
    "n"
    "o"
    "p"
    "q"
    "r"
    "s"
    "t"
    "u"
    "v"
    "w"
    "x"
    "y"
    "z"
    ""
    ""
  ];
  hasSuffix =
    suffix: s:
    let
      ls = builtins.stringLength s;
      lx = builtins.stringLength suffix;
    in
    ls >= lx && substring (ls - lx) lx s == suffix;
  isSecretName =
    n:
    let
      folded = builtins.replaceStrings upper lower n;
    in
    builtins.any (e: hasSuffix e folded) secretEndings;
in
rec {
  # Open-file limit for every unit we generate (the same number `clawdbot gateway
  # install` writes, src/cli/service.rs): each client costs one descriptor, and the
  # gateway raises its soft limit to this hard limit at start.
  limitNOFILE = 65536;

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
            if isSecretName n && isString v.${n} && v.${n} != "" then [ path ] else walk path v.${n}
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
      # The gateway's option path, named in remediation messages (set for instances).
      option ? "services.clawdbot",
    }:
    {
      CLAWDBOT_NIX_MODE = "1";
      CLAWDBOT_STATE_DIR = stateDir;
      CLAWDBOT_CONFIG_PATH = configPath;
    }
    // (if option == "services.clawdbot" then { } else { CLAWDBOT_NIX_OPTION = option; });

  # Assertions both modules make: secrets are files outside the store, never inline.
  # `at` is the option path of the gateway in messages (an instance names itself).
  secretAssertions = secretAssertionsAt "services.clawdbot";
  secretAssertionsAt = at: cfg: [
    {
      assertion = builtins.all (p: !isStorePath p) (builtins.attrValues cfg.secrets);
      message = "${at}.secrets: a secret file is inside /nix/store, which is world-readable; point it at a file outside the store (agenix, sops-nix, /run/keys or ~/.secrets).";
    }
    {
      assertion = inlineSecrets cfg.settings == [ ];
      message = "${at}.settings contains inline secrets (${builtins.concatStringsSep ", " (inlineSecrets cfg.settings)}); they would be copied into the world-readable store. Use ${at}.secrets instead.";
    }
  ];

  # Does the gateway get a token or password from somewhere?
  hasAuth =
    cfg:
    cfg.secrets ? gateway-token
    || cfg.secrets ? gateway-password
    || (cfg.settings.gateway.auth.tokenFile or null) != null
    || (cfg.settings.gateway.auth.passwordFile or null) != null
    || cfg.environmentFile != null;

  # A gateway reachable from other machines must have auth.
  # The assertions both modules make for one gateway `g` ({ at, name, cfg }): secrets,
  # exposure, the instance name, the workspace path and the document names.
  gatewayAssertions =
    g:
    secretAssertionsAt g.at g.cfg
    ++ [ (bindAssertion g.at g.cfg) ]
    ++ (
      if g.name != null then
        [
          {
            assertion = builtins.match "[A-Za-z0-9_-]+" g.name != null;
            message = "services.clawdbot.instances.\"${g.name}\": instance names may only contain letters, digits, - and _ (they name units and directories).";
          }
        ]
      else
        [ ]
    )
    ++ [
      {
        assertion = builtins.substring 0 1 g.cfg.workspace.path == "/";
        message = "${g.at}.workspace.path must be an absolute path (it is \"${g.cfg.workspace.path}\").";
      }
    ]
    ++ map (
      n:
      let
        d = g.cfg.workspace.documents.${n};
      in
      {
        assertion = isDocumentName n && (d.source == null) != (d.text == null);
        message = "${g.at}.workspace.documents.\"${n}\": give a relative path inside the workspace and exactly one of source or text.";
      }
    ) (attrNames g.cfg.workspace.documents)
    ++ map (n: {
      assertion = isSkillName n;
      message = "${g.at}.skills.\"${n}\": a skill name may only contain letters, digits, -, _ and . (and not start with .); it names a directory.";
    }) (attrNames (g.cfg.skills or { }));

  bindAssertion =
    at: cfg:
    let
      bind = cfg.settings.gateway.bind or "loopback";
    in
    {
      assertion = !(isPublicBind bind) || hasAuth cfg;
      message = "${at}.settings.gateway.bind = \"${bind}\" exposes the gateway beyond loopback without auth; set ${at}.secrets.gateway-token (or gateway-password).";
    };

  # One assertion per port used by more than one gateway, naming all of them.
  # `gateways` is a list of { at; port; }.
  portAssertions =
    gateways:
    let
      ports = builtins.foldl' (
        acc: g:
        let
          k = toString g.port;
        in
        acc // { ${k} = (acc.${k} or [ ]) ++ [ g.at ]; }
      ) { } gateways;
    in
    map (k: {
      assertion = builtins.length ports.${k} < 2;
      message = "${
        builtins.concatStringsSep " and " ports.${k}
      } use the same port ${k} (settings.gateway.port); give each gateway its own port.";
    }) (attrNames ports);

  # The unit / agent name of a gateway: the top level (name null) or an instance.
  unitName = name: if name == null then "clawdbot-gateway" else "clawdbot-gateway-${name}";

  # Settings with agents.defaults.workspace set to `workspace`, unless the user set it.
  withWorkspace =
    settings: workspace:
    if (settings.agents.defaults.workspace or null) != null then
      settings
    else
      settings
      // {
        agents = (settings.agents or { }) // {
          defaults = (settings.agents.defaults or { }) // {
            inherit workspace;
          };
        };
      };

  # Settings with logging.level from the renamed `logLevel` option (null: unchanged), unless
  # settings set it.
  withLogLevel =
    settings: level:
    if level == null || (settings.logging.level or null) != null then
      settings
    else
      settings
      // {
        logging = (settings.logging or { }) // {
          inherit level;
        };
      };

  # Settings with the `cron.jobs` option's jobs added to cron.jobs (a job of the same key
  # in settings is replaced by the option's).
  withCronJobs =
    settings: jobs:
    if jobs == { } then
      settings
    else
      settings
      // {
        cron = (settings.cron or { }) // {
          jobs = (settings.cron.jobs or { }) // jobs;
        };
      };

  # A skill name names one directory: letters, digits, `-`, `_`, `.`, not starting with `.`.
  isSkillName = n: builtins.match "[A-Za-z0-9_-][A-Za-z0-9_.-]*" n != null;

  # Shell that links each declared skill (name → directory in the store) into the
  # managed skills dir `dir`, and removes the links into the store whose name is no
  # longer declared (a rollback or a removed skill). A real directory (a skill the user
  # installed) is never touched, even when it has a declared skill's name: that skill is
  # then not linked, and the script says so on stderr. `run` and `bin` as copyDocuments.
  linkSkills =
    {
      dir,
      skills,
      run ? "",
      bin ? {
        ln = "ln";
        rm = "rm";
        mkdir = "mkdir";
        readlink = "readlink";
      },
    }:
    let
      names = attrNames skills;
      q = shellQuote dir;
    in
    "${run}${bin.mkdir} -p -m 0700 ${q}
"
    + "for link in ${q}/* ${q}/.[!.]*; do
"
    + "  [ -L \"$link\" ] || continue
"
    + "  case \"$(${bin.readlink} \"$link\")\" in /nix/store/*) ;; *) continue ;; esac
"
    + (
      if names == [ ] then
        ""
      else
        "  case \"\${link##*/}\" in ${builtins.concatStringsSep "|" (map shellQuote names)}) continue ;; esac
"
    )
    + "  ${run}${bin.rm} -f \"$link\"
"
    + "done
"
    + builtins.concatStringsSep "" (
      map (
        n:
        let
          src = shellQuote (toString skills.${n});
          dst = shellQuote "${dir}/${n}";
        in
        "if [ -e ${dst} ] && [ ! -L ${dst} ]; then
"
        + "  echo ${shellQuote "clawdbot: ${dir}/${n} is not a link made by Nix; the declared skill ${n} is not linked (the existing one is kept)"} >&2
"
        + "else
"
        + "  ${run}${bin.ln} -sfn ${src} ${dst}
"
        + "fi
"
      ) names
    );

  # A document name is a relative path inside the workspace: no leading /, no `..` or
  # `.` components, no empty components.
  isDocumentName =
    n:
    n != ""
    && substring 0 1 n != "/"
    && builtins.all (c: c != "" && c != "." && c != "..") (filter isString (builtins.split "/" n));

  shellQuote = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'";

  # Shell that copies each document (name → file) into the workspace as a regular file
  # (mode 0600, owned by whoever runs it), replacing a stale copy or an old symlink and
  # leaving identical files alone. `run` prefixes each change (Home Manager's dry-run
  # `run`, or ""); `bin` gives the programs (store paths, or names found on PATH).
  copyDocuments =
    {
      workspace,
      documents,
      run ? "",
      bin ? {
        install = "install";
        cmp = "cmp";
        rm = "rm";
      },
    }:
    builtins.concatStringsSep "" (
      map (
        n:
        let
          src = shellQuote (toString documents.${n});
          dst = shellQuote "${workspace}/${n}";
        in
        "if [ -L ${dst} ] || ! ${bin.cmp} -s ${src} ${dst}; then\n"
        + "  ${run}${bin.rm} -f ${dst}\n"
        + "  ${run}${bin.install} -D -m 0600 ${src} ${dst}\n"
        + "fi\n"
      ) (attrNames documents)
    );

  # Is this bind reachable from other machines?
  isPublicBind = bind: bind != null && bind != "loopback";
}
