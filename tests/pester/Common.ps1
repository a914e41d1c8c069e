# Dot-sourced by every *.Tests.ps1 in BeforeAll: paths and helpers shared by the suite.
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
# The repository's stub manifest (what a developer imports); it loads the build in out/module/WandbLaunch.
$script:ModulePath = Join-Path $script:RepoRoot 'WandbLaunch.psd1'
# The module build.ps1 -Task Build writes, as it is published, and the manifest it is made from.
$script:BuiltModuleDirectory = Join-Path $script:RepoRoot 'out/module/WandbLaunch'
$script:SourceManifestPath = Join-Path $script:RepoRoot 'module/WandbLaunch.psd1'

# Every folder the helpers below create; Remove-TestDirectories (in each file's AfterAll) deletes them.
$script:TestDirectories = [System.Collections.Generic.List[string]]::new()

function New-TestStore {
    <# Points this session at a new, empty local store in a temporary folder and returns its path. #>
    $dir = New-TestDirectory
    $env:WANDB_LAUNCH_DB = Join-Path $dir 'launch.db'
    $env:WANDB_LAUNCH_DB
}

function New-TestDirectory {
    $dir = Join-Path ([IO.Path]::GetTempPath()) ("wbl-test-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $full = (New-Item -ItemType Directory -Path $dir).FullName
    $script:TestDirectories.Add($full)
    $full
}

function Remove-TestDirectories {
    <# Deletes the folders New-TestDirectory and New-TestStore made (a store still open is left on Windows). #>
    foreach ($dir in $script:TestDirectories) { Remove-Item $dir -Recurse -Force -ErrorAction SilentlyContinue }
    $script:TestDirectories.Clear()
}

function Get-PwshCommand {
    <# The pwsh that runs this suite, as an executable path (the dotnet tool ships an apphost in $PSHOME). #>
    $apphost = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if (Test-Path $apphost) { return $apphost }
    throw "No pwsh executable in $PSHOME"
}

function Start-FreshPwsh {
    <#
    Starts a script in a new pwsh process (the same pwsh as this one) and returns a handle for Wait-FreshPwsh.
    The script finds the module at $env:WBL_MODULE. -Environment sets variables for the child only (a $null value
    removes one); this session's environment is not touched.
    #>
    param(
        [Parameter(Mandatory)] [string] $Script,
        [hashtable] $Environment = @{},
        [string] $WorkingDirectory = $script:RepoRoot
    )
    $file = Join-Path ([IO.Path]::GetTempPath()) ("wbl-script-" + [guid]::NewGuid().ToString('n') + '.ps1')
    Set-Content -Path $file -Value $Script
    $psi = [Diagnostics.ProcessStartInfo]::new((Get-PwshCommand))
    foreach ($arg in '-NoProfile', '-NonInteractive', '-File', $file) { $psi.ArgumentList.Add($arg) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $psi.WorkingDirectory = $WorkingDirectory
    $psi.Environment['WBL_MODULE'] = $script:ModulePath
    foreach ($name in $Environment.Keys) {
        if ($null -eq $Environment[$name]) { [void] $psi.Environment.Remove($name) }
        else { $psi.Environment[$name] = [string] $Environment[$name] }
    }
    $process = [Diagnostics.Process]::Start($psi)
    [pscustomobject]@{
        Process = $process
        StdOut  = $process.StandardOutput.ReadToEndAsync()
        StdErr  = $process.StandardError.ReadToEndAsync()
        File    = $file
    }
}

function Wait-FreshPwsh {
    <# Waits for a child started with Start-FreshPwsh and returns its exit code and output; kills it after -TimeoutSeconds. #>
    param([Parameter(Mandatory)] $Handle, [int] $TimeoutSeconds = 120)
    $process = $Handle.Process
    try {
        if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
            $process.Kill($true)
            throw "The child pwsh did not finish within $TimeoutSeconds s."
        }
        $process.WaitForExit()
        $out = @($Handle.StdOut.Result -split '\r?\n' | Where-Object { $_ -ne '' })
        $err = @($Handle.StdErr.Result -split '\r?\n' | Where-Object { $_ -ne '' })
        [pscustomobject]@{ ExitCode = $process.ExitCode; Output = @($out + $err); StdOut = $out; StdErr = $err }
    }
    finally {
        $process.Dispose()
        Remove-Item $Handle.File -ErrorAction SilentlyContinue
    }
}

function Invoke-FreshPwsh {
    <#
    Runs a script in a new pwsh process (the same pwsh as this one) and returns its exit code and output lines.
    The script finds the module at $env:WBL_MODULE. -Environment sets variables for the child only (a $null value
    removes one); this session's environment is not touched. A child still running after -TimeoutSeconds is killed.
    #>
    param(
        [Parameter(Mandatory)] [string] $Script,
        [hashtable] $Environment = @{},
        [int] $TimeoutSeconds = 120,
        [string] $WorkingDirectory = $script:RepoRoot
    )
    $handle = Start-FreshPwsh -Script $Script -Environment $Environment -WorkingDirectory $WorkingDirectory
    Wait-FreshPwsh -Handle $handle -TimeoutSeconds $TimeoutSeconds
}

function ConvertFrom-FreshPwshJson {
    <# The JSON document a child wrote as its last line of output; fails, showing all its output, when there is none. #>
    param([Parameter(Mandatory)] $Run)
    $last = $Run.StdOut | Select-Object -Last 1
    if ($Run.ExitCode -ne 0 -or -not $last -or -not ($last.StartsWith('{') -or $last.StartsWith('['))) {
        throw "The child pwsh exited with $($Run.ExitCode) and wrote:`n$($Run.Output -join "`n")"
    }
    $last | ConvertFrom-Json
}

function Invoke-FreshPwshJson {
    <#
    Runs a script in a new pwsh (see Invoke-FreshPwsh) whose last line of output is a JSON document, and returns
    that document as objects. Fails, showing everything the child wrote, when it exits non-zero or writes no JSON.
    #>
    param(
        [Parameter(Mandatory)] [string] $Script,
        [hashtable] $Environment = @{},
        [int] $TimeoutSeconds = 120
    )
    ConvertFrom-FreshPwshJson (Invoke-FreshPwsh -Script $Script -Environment $Environment -TimeoutSeconds $TimeoutSeconds)
}

function Get-QueueSnapshot {
    <#
    Everything stored about the queues of an entity and project (default: the session defaults), as one string, to
    compare before and after a command that must not change anything.
    #>
    param([string] $Entity, [string] $Project)
    $scope = @{}
    if ($Entity) { $scope.Entity = $Entity }
    if ($Project) { $scope.Project = $Project }
    @(Get-WandbLaunchQueue @scope | ForEach-Object {
            [ordered]@{
                Id                = $_.Id
                Name              = $_.Name
                Entity            = $_.Entity
                Project           = $_.Project
                Resource          = $_.Resource
                Configuration     = $_.ConfigurationJson
                TemplateVariables = @($_.TemplateVariables | ForEach-Object { $_.ToSchema().ToJsonString() }) -join ';'
                Prioritization    = $_.Prioritization
                Access            = "$($_.Access)"
                UpdatedAt         = $_.UpdatedAt.ToUnixTimeMilliseconds()
            }
        }) | ConvertTo-Json -Compress -Depth 5
}

function Get-ConflictingYamlDotNetPath {
    <#
    The YamlDotNet.dll of the older version that the isolation tests load into the session before WandbLaunch
    (ConflictingYamlDotNetVersion in Directory.Packages.props, downloaded by restoring tools/testdeps.csproj).
    #>
    [xml] $props = Get-Content (Join-Path $script:RepoRoot 'Directory.Packages.props') -Raw
    $version = "$($props.Project.PropertyGroup.ConflictingYamlDotNetVersion)".Trim()
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $lib = Join-Path $packages "yamldotnet/$version/lib"
    if (-not (Test-Path $lib)) {
        & dotnet restore (Join-Path $script:RepoRoot 'tools/testdeps.csproj') --nologo -v quiet | Out-Null
    }
    # The newest .NET (Core) target the package has: net8.0, net7.0, net6.0 ... then netstandard2.1.
    $dll = Get-ChildItem $lib -Directory -ErrorAction SilentlyContinue |
        Where-Object Name -Match '^net(\d+)\.\d+$|^netstandard2\.1$' |
        Sort-Object { if ($_.Name -match '^net(\d+)') { [int] $Matches[1] } else { 0 } } -Descending |
        ForEach-Object { Join-Path $_.FullName 'YamlDotNet.dll' } |
        Where-Object { Test-Path $_ } |
        Select-Object -First 1
    if (-not $dll) { throw "YamlDotNet $version is not in $packages; run: dotnet restore tools/testdeps.csproj" }
    [pscustomobject]@{ Version = $version; Path = $dll }
}

function Test-PyYaml {
    <# $true when python3 with PyYAML (the YAML reader of W&B's own agent) is available to cross-check files. #>
    if (-not (Get-Command python3 -ErrorAction SilentlyContinue)) { return $false }
    & python3 -c 'import yaml' 2>$null
    $LASTEXITCODE -eq 0
}
