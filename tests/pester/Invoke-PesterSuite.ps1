<#
.SYNOPSIS
    Runs the Pester suite in this (fresh) pwsh and writes {Passed, Failed, Skipped} to -SummaryPath.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [string] $Filter,
    [Parameter(Mandatory)] [string] $SummaryPath
)
$ErrorActionPreference = 'Stop'
# Plain text in this pwsh and every pwsh a test starts (agents): an ANSI escape in a failure message is not valid in
# the NUnit XML report, and Pester fails to write the report, losing every count.
$env:NO_COLOR = '1'
$PSStyle.OutputRendering = 'PlainText'
Import-Module $PesterPath -Force

$files = Get-ChildItem $PSScriptRoot -Filter '*.Tests.ps1' |
    Where-Object { -not $Filter -or $_.Name -like "$Filter*" } |
    Sort-Object Name

$config = New-PesterConfiguration
$config.Run.Path = @($files.FullName)
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.Should.ErrorAction = 'Continue'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = [IO.Path]::ChangeExtension($SummaryPath, '.xml')

$result = Invoke-Pester -Configuration $config
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
[pscustomobject]@{ Passed = $result.PassedCount; Failed = $failed; Skipped = $result.SkippedCount } |
    ConvertTo-Json | Set-Content -Path $SummaryPath
