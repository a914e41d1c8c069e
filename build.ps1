#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, demonstrates, benchmarks and packages WandbLaunch.
.DESCRIPTION
    Run as `dotnet pwsh ./build.ps1 -Task <Build|Test|Demo|Bench|Package>` after `dotnet tool restore`.
    Every task builds first. Test ends with a line `total: N passed, M failed` and exits non-zero on any failure.
.PARAMETER Task
    Build: compile into module/bin (Import-Module ./WandbLaunch.psd1 then works).
    Test: xunit engine tests and Pester cmdlet tests (provisions what they need).
    Demo: a walkthrough against a temporary local store.
    Bench: runs bench/Measure-*.ps1, prints their tables and writes them to out/bench/ (see bench/README.md).
    Package: a module folder and a .nupkg under out/.
.PARAMETER Configuration
    Release (default) or Debug.
.PARAMETER TestFilter
    Test only: a Pester file name pattern (e.g. 'Queue*') to run a subset; skips xunit when given.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Package')]
    [string] $Task = 'Build',

    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',

    [string] $TestFilter
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

function Invoke-Build {
    $bin = Join-Path $root 'module/bin'
    if (Test-Path $bin) { Remove-Item $bin -Recurse -Force }
    Invoke-Native dotnet @('publish', "$root/src/WandbLaunch.Loader/WandbLaunch.Loader.csproj", '-c', $Configuration, '-o', $bin, '--nologo', '-v', 'quiet')
    Invoke-Native dotnet @('publish', "$root/src/WandbLaunch/WandbLaunch.csproj", '-c', $Configuration, '-o', (Join-Path $bin 'lib'), '--nologo', '-v', 'quiet')
    Get-ChildItem $bin -Recurse -Include *.pdb, *.deps.json | Where-Object Name -NotLike 'WandbLaunch*.pdb' | Remove-Item -Force
    & (Join-Path $root 'tools/New-MamlHelp.ps1') -DocsPath (Join-Path $root 'docs/cmdlets') -OutputPath (Join-Path $bin 'lib/en-US/WandbLaunch.dll-Help.xml')
    Write-Host "Built module: Import-Module $root/WandbLaunch.psd1"
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
    & (Join-Path $root 'tools/Start-TestServices.ps1')

    $xunit = @{ Passed = 0; Failed = 0 }
    if (-not $TestFilter) {
        $trx = Join-Path $results 'xunit.trx'
        & dotnet test "$root/tests/WandbLaunch.Engine.Tests/WandbLaunch.Engine.Tests.csproj" -c $Configuration --nologo `
            --logger "trx;LogFileName=$trx" --logger 'console;verbosity=minimal'
        if (Test-Path $trx) {
            [xml] $doc = Get-Content $trx -Raw
            $counters = $doc.TestRun.ResultSummary.Counters
            $xunit.Passed = [int] $counters.passed
            $xunit.Failed = [int] $counters.failed + [int] $counters.error + [int] $counters.timeout + [int] $counters.aborted
        }
        elseif ($LASTEXITCODE -ne 0) {
            $xunit.Failed = 1
        }
        Write-Host "xunit: $($xunit.Passed) passed, $($xunit.Failed) failed"
    }

    $pester = Get-PesterPath
    $summary = Join-Path $results 'pester.json'
    & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/pester/Invoke-PesterSuite.ps1') `
        -PesterPath $pester -Filter $TestFilter -SummaryPath $summary
    $pesterCounts = if (Test-Path $summary) { Get-Content $summary -Raw | ConvertFrom-Json } else { [pscustomobject]@{ Passed = 0; Failed = 1 } }
    Write-Host "pester: $($pesterCounts.Passed) passed, $($pesterCounts.Failed) failed, $($pesterCounts.Skipped) skipped"

    $passed = $xunit.Passed + $pesterCounts.Passed
    $failed = $xunit.Failed + $pesterCounts.Failed
    Write-Host "total: $passed passed, $failed failed"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-Package {
    $out = Join-Path $root 'out/package'
    if (Test-Path $out) { Remove-Item $out -Recurse -Force }
    $moduleDir = Join-Path $out 'WandbLaunch'
    New-Item -ItemType Directory -Path "$moduleDir/module" -Force | Out-Null
    Copy-Item (Join-Path $root 'WandbLaunch.psd1') $moduleDir
    Copy-Item (Join-Path $root 'module/*') "$moduleDir/module" -Recurse
    $feed = Join-Path $out 'feed'
    New-Item -ItemType Directory -Path $feed -Force | Out-Null
    $repoName = "WandbLaunchBuild-$PID"
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

Invoke-Build
switch ($Task) {
    'Build' { }
    'Test' { Invoke-Test }
    'Demo' { & dotnet pwsh -NoProfile -File (Join-Path $root 'tools/Demo.ps1') ; if ($LASTEXITCODE) { exit $LASTEXITCODE } }
    'Bench' {
        # Each benchmark prints its Markdown table and also writes it to out/bench/<script name>.md.
        Get-ChildItem (Join-Path $root 'bench') -Filter 'Measure-*.ps1' | ForEach-Object {
            & dotnet pwsh -NoProfile -File $_.FullName -OutFile (Join-Path $root "out/bench/$($_.BaseName).md")
            if ($LASTEXITCODE -ne 0) { throw "$($_.Name) failed with exit code $LASTEXITCODE" }
        }
    }
    'Package' { Invoke-Package }
}
