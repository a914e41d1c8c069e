#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, demonstrates, benchmarks and packages WandbLaunch.
.DESCRIPTION
    Run as `dotnet pwsh ./build.ps1 -Task <Build|Test|Demo|Bench|Package>` after `dotnet tool restore`.
    Every task builds first. Test ends with a line `total: N passed, M failed` and exits non-zero on any failure.
.PARAMETER Task
    Build: compile the module into out/module/WandbLaunch (Import-Module ./WandbLaunch.psd1 then loads it); every
    project's bin/ and obj/ go under out/build/.
    Test: xunit engine tests and Pester cmdlet tests (starts the services they need, and stops what it started).
    Demo: a walkthrough against a temporary local store (-Wandb: a W&B server from WANDB_BASE_URL/WANDB_API_KEY/
    WANDB_ENTITY; -WandbStandIn: the tests' W&B server stand-in).
    Bench: runs bench/Measure-*.ps1, prints their tables and writes them to out/bench/ (see bench/README.md).
    Package: the built module folder published as a .nupkg under out/package/feed.
.PARAMETER Configuration
    Release (default) or Debug.
.PARAMETER TestFilter
    Test only: a Pester file name pattern (e.g. 'Queue*') to run a subset; skips xunit when given.
.PARAMETER NoBuild
    Use the module already built in out/module/WandbLaunch instead of building first (fails when there is none). The
    Pester tests of the Package task use it so that packaging does not rebuild the module under the running suite.
.PARAMETER Wandb
    Demo only: run it on the W&B server given by WANDB_BASE_URL, WANDB_API_KEY and WANDB_ENTITY instead of a
    temporary local store.
.PARAMETER WandbStandIn
    Demo only: run it on the tests' W&B server stand-in (tests/WandbServer, built when needed), in the demo's process.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Package')]
    [string] $Task = 'Build',

    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',

    [string] $TestFilter,

    [switch] $NoBuild,

    [switch] $Wandb,

    [switch] $WandbStandIn
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'

function Invoke-Native {
    param([string] $Command, [string[]] $Arguments)
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Command $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

# Everything the build writes goes under out/ (ignored): out/build/ holds every project's bin/obj/publish (see
# Directory.Build.props), out/module/WandbLaunch/ the module as it is published.
$moduleDir = Join-Path $root 'out/module/WandbLaunch'
$script:TestFailures = 0

function Remove-LegacyBuildOutput {
    <# Deletes what builds wrote before all output moved under out/: each project's bin/ and obj/, module/bin, en-US/. #>
    $legacy = @(Get-ChildItem $root -Filter *.csproj -Recurse -File | Where-Object FullName -NotLike (Join-Path $root 'out/*') |
            ForEach-Object { Join-Path $_.DirectoryName 'bin'; Join-Path $_.DirectoryName 'obj' }) +
        (Join-Path $root 'module/bin') + (Join-Path $root 'en-US')
    foreach ($dir in $legacy | Where-Object { Test-Path $_ }) {
        Write-Host "Removing build output from before out/: $dir"
        Remove-Item $dir -Recurse -Force
    }
}

function Invoke-Build {
    Remove-LegacyBuildOutput
    if (Test-Path $moduleDir) { Remove-Item $moduleDir -Recurse -Force }
    $bin = Join-Path $moduleDir 'bin'
    # Get-Help looks for help in <culture> folders of the module base, the folder of WandbLaunch.psd1.
    $help = Join-Path $moduleDir 'en-US'
    # bin/ holds what PowerShell loads into its own context when it imports the module: the cmdlets (the root module)
    # and the loader. bin/lib holds the engine and its libraries, which the loader puts into the module's private
    # load context on first use (src/WandbLaunch.Loader, docs/architecture.md "Load contexts").
    $lib = Join-Path $bin 'lib'
    Invoke-Native dotnet @('publish', "$root/src/WandbLaunch/WandbLaunch.csproj", '-c', $Configuration, '-o', $lib, '--nologo', '-v', 'quiet')
    foreach ($name in 'WandbLaunch', 'WandbLaunch.Loader') {
        # The .xml doc comments go with the assembly: tools/New-MamlHelp.ps1 reads them from beside it.
        foreach ($extension in '.dll', '.pdb', '.xml') { Move-Item (Join-Path $lib "$name$extension") $bin -ErrorAction Ignore }
    }
    Get-ChildItem $bin -Recurse -Include *.pdb, *.deps.json | Where-Object Name -NotLike 'WandbLaunch*.pdb' | Remove-Item -Force
    # The module's own files, by name: a module/bin left by an older build must not reach the new module.
    foreach ($file in 'WandbLaunch.psd1', 'WandbLaunch.Format.ps1xml') { Copy-Item (Join-Path $root "module/$file") $moduleDir }
    New-Item -ItemType Directory -Path $help -Force | Out-Null
    Copy-Item (Join-Path $root 'module/en-US/*.help.txt') $help
    # The generator imports the module; a child pwsh keeps the just-built assemblies out of this session.
    Invoke-Native (Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')) @('-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'tools/New-MamlHelp.ps1'),
        '-DocsPath', (Join-Path $root 'docs/cmdlets'), '-OutputPath', (Join-Path $help 'WandbLaunch.dll-Help.xml'),
        '-ModulePath', (Join-Path $moduleDir 'WandbLaunch.psd1'))
    Write-Host "Built module: $moduleDir (Import-Module $root/WandbLaunch.psd1 loads it)"
}

function Get-PesterPath {
    [xml] $props = Get-Content (Join-Path $root 'Directory.Packages.props') -Raw
    $version = $props.Project.PropertyGroup.PesterVersion
    Invoke-Native dotnet @('restore', "$root/tools/testdeps.csproj", '--nologo', '-v', 'quiet')
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    Join-Path $packages "pester/$version/tools/Pester.psd1"
}

function Invoke-Test {
    $results = Join-Path $root 'out/test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Path $results -Force | Out-Null
    # The Docker engine and registry the tests need run only while they do: Stop-TestServices.ps1 stops what
    # Start-TestServices.ps1 started (never an engine or registry that was running before).
    try {
        & (Join-Path $root 'tools/Start-TestServices.ps1')
        Invoke-TestSuites $results
    }
    finally {
        & (Join-Path $root 'tools/Stop-TestServices.ps1')
    }
    if ($script:TestFailures -gt 0) { exit 1 }
}

function Invoke-TestSuites([string] $results) {
    <# Runs xunit (unless -TestFilter) and Pester, prints the counts and sets $script:TestFailures. #>
    $xunit = @{ Passed = 0; Failed = 0 }
    if (-not $TestFilter) {
        # Every xunit project under tests/ (each tests/<Name>/<Name>.csproj), one trx file each, counts summed.
        $projects = @(Get-ChildItem (Join-Path $root 'tests') -Filter *.csproj -Recurse |
            Where-Object { (Get-Content $_.FullName -Raw) -match 'Microsoft.NET.Test.Sdk' } | Sort-Object FullName)
        foreach ($project in $projects) {
            $trx = Join-Path $results "$($project.BaseName).trx"
            & dotnet test $project.FullName -c $Configuration --nologo `
                --logger "trx;LogFileName=$trx" --logger 'console;verbosity=minimal'
            $exitCode = $LASTEXITCODE
            $passed = 0
            $failed = 0
            if (Test-Path $trx) {
                [xml] $doc = Get-Content $trx -Raw
                $counters = $doc.TestRun.ResultSummary.Counters
                $passed = [int] $counters.passed
                $failed = [int] $counters.failed + [int] $counters.error + [int] $counters.timeout + [int] $counters.aborted
            }
            if ($failed -eq 0 -and $exitCode -ne 0) {
                # The build or the test host failed without reporting a failed test.
                $failed = 1
            }
            Write-Host "xunit $($project.BaseName): $passed passed, $failed failed"
            $xunit.Passed += $passed
            $xunit.Failed += $failed
        }
        Write-Host "xunit: $($xunit.Passed) passed, $($xunit.Failed) failed ($($projects.Count) project(s))"
    }

    $pester = Get-PesterPath
    $summary = Join-Path $results 'pester.json'
    $suiteArgs = @('-PesterPath', $pester, '-SummaryPath', $summary)
    # One argument: on Linux a bare '*' given to a native command is expanded to file names.
    if ($TestFilter) { $suiteArgs += "-Filter:$TestFilter" }
    Remove-Item $summary -ErrorAction SilentlyContinue
    & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/pester/Invoke-PesterSuite.ps1') @suiteArgs
    $pesterCounts = $null
    if (Test-Path $summary) { $pesterCounts = Get-Content $summary -Raw | ConvertFrom-Json -ErrorAction SilentlyContinue }
    if ($null -eq $pesterCounts -or $null -eq $pesterCounts.Passed -or $null -eq $pesterCounts.Failed) {
        # The suite stopped before it could count (no test file found, Pester failed to load...): that is a failure.
        Write-Host 'pester: the suite wrote no counts; counted as 1 failed'
        $pesterCounts = [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    Write-Host "pester: $($pesterCounts.Passed) passed, $($pesterCounts.Failed) failed, $($pesterCounts.Skipped) skipped"

    $passed = $xunit.Passed + $pesterCounts.Passed
    $failed = $xunit.Failed + $pesterCounts.Failed
    Write-Host "total: $passed passed, $failed failed"
    $script:TestFailures = $failed
}

function Invoke-Package {
    # Publishes the built module folder as it is: out/module/WandbLaunch is the package's content.
    $out = Join-Path $root 'out/package'
    if (Test-Path $out) { Remove-Item $out -Recurse -Force }
    $feed = Join-Path $out 'feed'
    New-Item -ItemType Directory -Path $feed -Force | Out-Null
    $repoName = "WandbLaunchBuild-$PID"
    # NuGet (inside PSResourceGet) keeps its NuGet.Config in the user's ApplicationData folder. On a fresh home
    # without it, .NET reports that folder as '' and NuGet writes NuGet/NuGet.Config into the current folder.
    $appData = [Environment]::GetFolderPath('ApplicationData', 'DoNotVerify')
    if ($appData) { New-Item -ItemType Directory -Path $appData -Force | Out-Null }
    Register-PSResourceRepository -Name $repoName -Uri $feed -Trusted
    try {
        Publish-PSResource -Path $moduleDir -Repository $repoName -SkipDependenciesCheck -SkipModuleManifestValidate
    }
    finally {
        Unregister-PSResourceRepository -Name $repoName
    }
    Write-Host "Module folder: $moduleDir"
    Get-ChildItem $feed -Filter *.nupkg | ForEach-Object { Write-Host "Package:       $($_.FullName)" }
}

if (-not $NoBuild) {
    Invoke-Build
}
elseif (-not (Test-Path (Join-Path $moduleDir 'bin/WandbLaunch.dll'))) {
    throw "-NoBuild: there is no build in $moduleDir; run ./build.ps1 -Task Build first."
}
switch ($Task) {
    'Build' { }
    'Test' { Invoke-Test }
    'Demo' {
        $demoArgs = @(if ($Wandb) { '-Wandb' }; if ($WandbStandIn) { '-WandbStandIn' })
        & dotnet pwsh -NoProfile -File (Join-Path $root 'tools/Demo.ps1') @demoArgs; if ($LASTEXITCODE) { exit $LASTEXITCODE }
    }
    'Bench' {
        # Each benchmark prints its Markdown table and also writes it to out/bench/<script name>.md.
        New-Item -ItemType Directory -Force -Path (Join-Path $root 'out/bench') | Out-Null
        Get-ChildItem (Join-Path $root 'bench') -Filter 'Measure-*.ps1' | ForEach-Object {
            $report = Join-Path $root "out/bench/$($_.BaseName).md"
            if ((Get-Command $_.FullName).Parameters.ContainsKey('OutFile')) { & dotnet pwsh -NoProfile -File $_.FullName -OutFile $report }
            else { & dotnet pwsh -NoProfile -File $_.FullName | Tee-Object -FilePath $report }
            if ($LASTEXITCODE -ne 0) { throw "$($_.Name) failed with exit code $LASTEXITCODE" }
        }
    }
    'Package' { Invoke-Package }
}
