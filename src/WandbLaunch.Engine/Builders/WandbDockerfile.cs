using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// The Dockerfile W&amp;B's agent generates for a job without one (<c>builder/templates/dockerfile.py</c>, filled as
/// <c>builder/build.py</c> and <c>context_manager.py</c> do), text for text, so that the same job gets the same image
/// tag here as under W&amp;B's agent. The build context it expects: the code under <c>src/</c>,
/// <c>_wandb_bootstrap.py</c> at the root. The templates are W&amp;B's as Python reads them: a backslash ending a line
/// of its triple-quoted strings joins the lines, so W&amp;B's Dockerfiles have those RUN commands on one line.
/// </summary>
public static partial class WandbDockerfile
{
    /// <summary>The Python W&amp;B's agent would fall back to (its own); this agent has none, so a fixed one.</summary>
    public const string DefaultPythonVersion = "3.10";

    public const string BootstrapFileName = "_wandb_bootstrap.py";

    /// <summary>Without BuildKit (the engine API's classic builder, kaniko) W&amp;B's prefix disables the pip cache.</summary>
    public const string NoCachePrefix = "RUN WANDB_DISABLE_CACHE=true";

    public const string CachePrefix = "RUN --mount=type=cache,mode=0777,target=/root/.cache/pip";

    /// <summary>What goes into the generated Dockerfile.</summary>
    public sealed record Inputs
    {
        /// <summary>The job's Python (<c>3.10.12</c> or <c>3.10</c>), cut to major.minor; null: <see cref="DefaultPythonVersion"/>.</summary>
        public string? PythonVersion { get; init; }

        /// <summary>The code directory (copied to <c>src/</c>): which requirements file it has decides the install.</summary>
        public required string CodeDirectory { get; init; }

        public required IReadOnlyList<string> EntryPoint { get; init; }

        /// <summary><c>builder.accelerator.base_image</c> (or <c>.cuda.base_image</c>) of the resource args.</summary>
        public string? AcceleratorBaseImage { get; init; }

        public required string UserName { get; init; }

        public int UserId { get; init; } = 1000;

        /// <summary>Whether the builder has BuildKit (W&amp;B: buildx installed); never for kaniko.</summary>
        public bool BuildKit { get; init; }
    }

    /// <summary>The generated text, the files the context needs besides the code (path → text), and W&amp;B's warnings.</summary>
    public sealed record Result(string Text, IReadOnlyDictionary<string, string> ExtraFiles, IReadOnlyList<string> Warnings);

    private const string Template = """

        # ----- stage 1: build -----
        FROM {py_build_image} as build

        # requirements section depends on pip vs conda, and presence of buildx
        ENV PIP_PROGRESS_BAR off
        {requirements_section}

        # ----- stage 2: base -----
        {base_setup}

        COPY --from=build /env /env
        ENV PATH="/env/bin:$PATH"

        ENV SHELL /bin/bash

        # some resources (eg sagemaker) must run on root
        {user_setup}

        WORKDIR {workdir}
        RUN chown -R {uid} {workdir}

        # make artifacts cache dir unrelated to build
        RUN mkdir -p {workdir}/.cache && chown -R {uid} {workdir}/.cache

        # copy code/etc
        COPY --chown={uid} src/ {workdir}

        ENV PYTHONUNBUFFERED=1

        {entrypoint_section}

        """;

    private const string PythonSetup = """

        FROM {py_base_image} as base

        """;

    private const string AcceleratorSetup = """

        FROM {accelerator_base_image} as base

        # make non-interactive so build doesn't block on questions
        ENV DEBIAN_FRONTEND=noninteractive

        # install python
        RUN apt-get update -qq && apt-get install --no-install-recommends -y     {python_packages}     && apt-get -qq purge && apt-get -qq clean     && rm -rf /var/lib/apt/lists/*

        # make sure `python` points at the right version
        RUN update-alternatives --install /usr/bin/python python /usr/bin/python{py_version} 1     && update-alternatives --install /usr/local/bin/python python /usr/bin/python{py_version} 1

        """;

    private const string PipTemplate = """

        RUN python -m venv /env
        # make sure we install into the env
        ENV PATH="/env/bin:$PATH"

        COPY {requirements_files} ./
        {buildx_optional_prefix} {pip_install}

        """;

    private const string UserCreate = """

        RUN useradd     --create-home     --no-log-init     --shell /bin/bash     --gid 0     --uid {uid}     {user} || echo ""

        """;

    private const string EntryPointTemplate = """

        ENTRYPOINT {entrypoint}

        """;

    public static Result Generate(Inputs inputs)
    {
        if (inputs.PythonVersion is { } given && !PythonVersionPattern().IsMatch(given))
        {
            // It comes from wandb-job.json or the spec and goes into FROM lines and src/runtime.txt: a newline would add instructions.
            throw new JobFailedException(FailureStage.Build,
                $"The job's Python version {Text.Printable.Quote(given)} is not a version: it is major.minor[.patch…] (3.10, 3.10.12), from the job's runtime or the spec's python_version.");
        }
        var version = MajorMinor(inputs.PythonVersion);
        var warnings = new List<string>();
        var extra = new Dictionary<string, string>(StringComparer.Ordinal);
        var requirements = RequirementsSection(inputs, extra, warnings);
        var userSetup = Fill(UserCreate, ("uid", Number(inputs.UserId)), ("user", inputs.UserName)) + $"\nUSER {inputs.UserName}";
        var workdir = $"/home/{inputs.UserName}";
        var text = Fill(Template,
            ("py_build_image", $"python:{version}"),
            ("requirements_section", requirements),
            ("base_setup", BaseSetup(version, inputs.AcceleratorBaseImage)),
            ("uid", Number(inputs.UserId)),
            ("user_setup", userSetup),
            ("workdir", workdir),
            ("entrypoint_section", Fill(EntryPointTemplate, ("entrypoint", PythonJson(inputs.EntryPoint)))));
        if (inputs.PythonVersion is { Length: > 0 } full) extra["src/runtime.txt"] = $"python-{full}";
        extra[BootstrapFileName] = Bootstrap.Value;
        return new Result(text, extra, warnings);
    }

    /// <summary>W&amp;B's <c>get_base_setup</c>: <c>python:V-buster</c> below 3.12, <c>-bookworm</c> from it, or the accelerator image.</summary>
    public static string BaseSetup(string version, string? acceleratorBaseImage)
    {
        if (acceleratorBaseImage is { Length: > 0 } accelerator)
        {
            CheckAcceleratorImage(accelerator);
            string[] packages = [$"python{version}", $"libpython{version}", "python3-pip", "python3-setuptools"];
            return Fill(AcceleratorSetup, ("accelerator_base_image", accelerator), ("python_packages", string.Join(" \\\n", packages)), ("py_version", version));
        }
        var minor = int.TryParse(version.Split('.').ElementAtOrDefault(1), NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : 0;
        return Fill(PythonSetup, ("py_base_image", $"python:{version}-{(minor < 12 ? "buster" : "bookworm")}"));
    }

    [GeneratedRegex(@"^[0-9]{1,3}\.[0-9]{1,3}(?:[.+\-]?[0-9A-Za-z]{1,16}){0,4}$")]
    private static partial Regex PythonVersionPattern();

    [GeneratedRegex(@"[\s#]")]
    private static partial Regex UnsafeImageCharacter();

    [GeneratedRegex("^sha256:[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Digest();

    // W&B's wandb.util.docker_image_regex.
    [GeneratedRegex(@"^(?:(?=[^:\/]{1,253})(?!-)[a-zA-Z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-zA-Z0-9-]{1,63}(?<!-))*(?::[0-9]{1,5})?/)?((?![._-])(?:[a-z0-9._-]*)(?<![._-])(?:/(?![._-])[a-z0-9._-]*(?<![._-]))*)(?::(?![.-])[a-zA-Z0-9_.-]{1,128})?$")]
    private static partial Regex DockerImage();

    /// <summary>W&amp;B's <c>_validate_accelerator_base_image</c>: no whitespace or '#', a digest is <c>sha256:&lt;64 hex&gt;</c>, a valid reference.</summary>
    public static void CheckAcceleratorImage(string image)
    {
        if (UnsafeImageCharacter().IsMatch(image))
        {
            throw new JobFailedException(FailureStage.Build, "Invalid accelerator base image. Docker image references cannot contain whitespace or '#'.");
        }
        var at = image.IndexOf('@');
        var name = at < 0 ? image : image[..at];
        if (at >= 0 && !Sha256Digest().IsMatch(image[(at + 1)..]))
        {
            throw new JobFailedException(FailureStage.Build, "Invalid accelerator base image. Expected digest to match sha256:<64 hex characters>.");
        }
        if (name.Length == 0 || !DockerImage().IsMatch(name))
        {
            throw new JobFailedException(FailureStage.Build, "Invalid accelerator base image. Expected a valid Docker image reference name.");
        }
    }

    /// <summary>W&amp;B's <c>get_requirements_section</c>: requirements.txt, else pyproject.toml's dependencies, else requirements.frozen.txt via the bootstrap, else none.</summary>
    private static string RequirementsSection(Inputs inputs, Dictionary<string, string> extra, List<string> warnings)
    {
        var prefix = inputs.BuildKit ? CachePrefix : NoCachePrefix;
        const string uvInstall = "pip install uv && uv pip install -r requirements.txt";
        var requirements = Path.Combine(inputs.CodeDirectory, "requirements.txt");
        if (File.Exists(requirements))
        {
            if (!File.ReadLines(requirements).Any(l => l.Contains("wandb", StringComparison.Ordinal))) warnings.Add("wandb is not present in requirements.txt.");
            return Fill(PipTemplate, ("buildx_optional_prefix", prefix), ("requirements_files", "src/requirements.txt"), ("pip_install", uvInstall));
        }
        var pyproject = Path.Combine(inputs.CodeDirectory, "pyproject.toml");
        if (File.Exists(pyproject))
        {
            var dependencies = PyprojectDependencies(File.ReadAllText(pyproject));
            if (dependencies.Count > 0)
            {
                if (!dependencies.Any(d => d.Contains("wandb", StringComparison.Ordinal))) warnings.Add("wandb is not present as a dependency in pyproject.toml.");
                extra["src/requirements.txt"] = string.Join('\n', dependencies);
                return Fill(PipTemplate, ("buildx_optional_prefix", prefix), ("requirements_files", "src/requirements.txt"), ("pip_install", uvInstall));
            }
        }
        var frozen = Path.Combine(inputs.CodeDirectory, "requirements.frozen.txt");
        if (File.Exists(frozen))
        {
            if (!File.ReadLines(frozen).Any(l => l.Contains("wandb", StringComparison.Ordinal))) warnings.Add("wandb is not present in requirements.frozen.txt.");
            return Fill(PipTemplate, ("buildx_optional_prefix", prefix), ("requirements_files", $"src/requirements.frozen.txt {BootstrapFileName}"),
                ("pip_install", $"python {BootstrapFileName}"));
        }
        warnings.Add("No requirements file found. No packages will be installed.");
        return "RUN mkdir -p env/";
    }

    /// <summary>
    /// <c>[project].dependencies</c> of a pyproject.toml (the one table W&amp;B reads, with tomli): an array of strings,
    /// basic or literal, over one or more lines. Anything else yields none, as a file without the key does.
    /// </summary>
    public static IReadOnlyList<string> PyprojectDependencies(string toml)
    {
        var inProject = false;
        var lines = toml.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.StartsWith('['))
            {
                inProject = line == "[project]";
                continue;
            }
            if (!inProject) continue;
            var match = DependenciesKey().Match(line);
            if (!match.Success) continue;
            var text = new StringBuilder(line[match.Length..]);
            while (!ArrayClosed(text.ToString()) && ++i < lines.Length) text.Append('\n').Append(lines[i]);
            return TomlStrings(text.ToString());
        }
        return [];
    }

    [GeneratedRegex(@"^dependencies\s*=\s*")]
    private static partial Regex DependenciesKey();

    private static bool ArrayClosed(string text) => TomlString().Replace(text, "").Contains(']');

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|'[^']*'")]
    private static partial Regex TomlString();

    private static List<string> TomlStrings(string array)
    {
        var result = new List<string>();
        foreach (Match m in TomlString().Matches(array))
        {
            var raw = m.Value;
            result.Add(raw[0] == '\'' ? raw[1..^1] : Regex.Unescape(raw[1..^1]));
        }
        return result;
    }

    /// <summary>major.minor of a Python version (W&amp;B: <c>python_version.split(".")[:2]</c>).</summary>
    public static string MajorMinor(string? version) =>
        version is { Length: > 0 } v ? string.Join('.', v.Split('.').Take(2)) : DefaultPythonVersion;

    /// <summary>Python's <c>json.dumps</c> of a list of strings: <c>", "</c> between items, non-ASCII as <c>\uXXXX</c>.</summary>
    public static string PythonJson(IReadOnlyList<string> values)
    {
        var text = new StringBuilder("[");
        for (var i = 0; i < values.Count; i++)
        {
            if (i > 0) text.Append(", ");
            text.Append('"');
            foreach (var c in values[i])
            {
                switch (c)
                {
                    case '"': text.Append("\\\""); break;
                    case '\\': text.Append("\\\\"); break;
                    case '\n': text.Append("\\n"); break;
                    case '\r': text.Append("\\r"); break;
                    case '\t': text.Append("\\t"); break;
                    case '\b': text.Append("\\b"); break;
                    case '\f': text.Append("\\f"); break;
                    default:
                        if (c < 0x20 || c > 0x7e) text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else text.Append(c);
                        break;
                }
            }
            text.Append('"');
        }
        return text.Append(']').ToString();
    }

    private static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>Python's <c>str.format</c> with named fields, each value inserted once (values are not formatted again).</summary>
    private static string Fill(string template, params (string Name, string Value)[] fields)
    {
        var text = new StringBuilder();
        var i = 0;
        while (i < template.Length)
        {
            var open = template.IndexOf('{', i);
            if (open < 0)
            {
                text.Append(template, i, template.Length - i);
                break;
            }
            var close = template.IndexOf('}', open);
            var name = close < 0 ? null : template[(open + 1)..close];
            var field = fields.FirstOrDefault(f => f.Name == name);
            if (field.Name is null)
            {
                text.Append(template, i, open - i + 1);
                i = open + 1;
                continue;
            }
            text.Append(template, i, open - i).Append(field.Value);
            i = close + 1;
        }
        return text.ToString();
    }

    /// <summary>The text of <c>_wandb_bootstrap.py</c>, which a generated build context carries at its root.</summary>
    public static string BootstrapScript => Bootstrap.Value;

    private static readonly Lazy<string> Bootstrap = new(() =>
    {
        using var stream = typeof(WandbDockerfile).Assembly.GetManifestResourceStream("WandbLaunch.Engine.Builders.wandb_bootstrap.py")
            ?? throw new InvalidOperationException("The engine assembly lacks its _wandb_bootstrap.py resource.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
