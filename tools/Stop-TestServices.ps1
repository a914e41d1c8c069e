<#
.SYNOPSIS
    Stops the services tools/Start-TestServices.ps1 started (build.ps1 -Task Test calls it when the tests end).
.DESCRIPTION
    Stops exactly the processes recorded in <StateDirectory>/*.pid.json: a Docker engine or registry this checkout
    did not start (another checkout's, the system's) is never touched, and neither is a process that has since
    taken a recorded process id. Each is asked to stop (SIGTERM) and killed when it has not ended after
    -TimeoutSeconds. The registry's data, its password and the test base image stay for the next run.
#>
[CmdletBinding()]
param(
    [string] $StateDirectory = (Join-Path (Split-Path $PSScriptRoot -Parent) 'out/services'),
    [int] $TimeoutSeconds = 20
)
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'services/TestServiceRecords.ps1')

function Wait-Ended($Record, [int] $Seconds) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ((Test-TestServiceRunning $Record) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
    -not (Test-TestServiceRunning $Record)
}

# The registry first: it may still be writing to the engine's images' layers while the engine runs.
$records = @(Get-TestServiceRecord $StateDirectory | Sort-Object { $_.Name -eq 'dockerd' })
foreach ($record in $records) {
    if (Test-TestServiceRunning $record) {
        Write-Host "Stopping $($record.Name) (pid $($record.ProcessId), started by Start-TestServices.ps1)"
        & kill -TERM $record.ProcessId
        if (-not (Wait-Ended $record $TimeoutSeconds)) {
            Write-Warning "$($record.Name) (pid $($record.ProcessId)) did not stop within $TimeoutSeconds s; killing it."
            & kill -KILL $record.ProcessId
            if (-not (Wait-Ended $record 5)) { throw "$($record.Name) (pid $($record.ProcessId)) is still running." }
        }
    }
    Remove-Item $record.Path -Force
}
