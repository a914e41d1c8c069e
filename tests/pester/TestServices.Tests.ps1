# tools/Start-TestServices.ps1 and tools/Stop-TestServices.ps1: the test task stops exactly what it started.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    . (Join-Path $RepoRoot 'tools/services/TestServiceRecords.ps1')
    $script:StopScript = Join-Path $RepoRoot 'tools/Stop-TestServices.ps1'

    function Start-DetachedSleep {
        <# A process outside this one's session, as Start-TestServices.ps1 starts a service; returns its id. #>
        [int](& sh -c 'setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo $!')
    }

    function Get-ProcessIdsOf([string] $Program) {
        @(Get-ChildItem /proc -Directory | Where-Object Name -Match '^\d+$' | Where-Object {
                $exe = try { (Get-Item "/proc/$($_.Name)/exe" -ErrorAction Stop).LinkTarget } catch { $null }
                $exe -and (Split-Path $exe -Leaf) -eq $Program
            } | ForEach-Object { [int] $_.Name } | Sort-Object)
    }
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Stop-TestServices.ps1' -Skip:(-not $IsLinux) {
    It 'stops a process Start-TestServices.ps1 recorded and removes its record' {
        $state = New-TestDirectory
        $processId = Start-DetachedSleep
        Save-TestServiceRecord $state 'registry' $processId '/usr/bin/sleep'
        $record = Get-TestServiceRecord $state
        Test-TestServiceRunning $record | Should -BeTrue

        & $StopScript -StateDirectory $state -TimeoutSeconds 5 6>$null

        Test-TestServiceRunning $record | Should -BeFalse
        Get-ProcessStartTicks $processId | Should -BeNullOrEmpty
        Join-Path $state 'registry.pid.json' | Should -Not -Exist
    }

    It 'leaves alone a process that has taken a recorded process id' {
        $state = New-TestDirectory
        $processId = Start-DetachedSleep
        try {
            # A record of an earlier process with this id: same id, another start time.
            Save-TestServiceRecord $state 'dockerd' $processId '/usr/bin/dockerd'
            $path = Join-Path $state 'dockerd.pid.json'
            $record = Get-Content $path -Raw | ConvertFrom-Json
            $record.StartTicks = "$([long] $record.StartTicks - 1)"
            $record | ConvertTo-Json | Set-Content $path

            & $StopScript -StateDirectory $state -TimeoutSeconds 5 6>$null

            Get-ProcessStartTicks $processId | Should -Not -BeNullOrEmpty
            $path | Should -Not -Exist
        }
        finally {
            & kill -KILL $processId
        }
    }

    It 'does nothing when nothing was started' {
        $state = New-TestDirectory
        { & $StopScript -StateDirectory $state 6>$null } | Should -Not -Throw
        & $StopScript -StateDirectory (Join-Path $state 'never-created') 6>$null
    }
}

Describe 'Start-TestServices.ps1 then Stop-TestServices.ps1' -Skip:(-not $IsLinux -or $env:WBL_TEST_DOCKER -ne '1') {
    # The Test task started (or found) the Docker engine before this file ran: to a second start it is a
    # pre-existing engine. With a state folder of its own, that start makes and records a registry of its own.
    It 'stops the registry it started and leaves the running Docker engine alone' {
        $engineBefore = Get-ProcessIdsOf 'dockerd'
        $state = New-TestDirectory
        $run = Invoke-FreshPwsh -TimeoutSeconds 120 -Environment @{ WBL_STATE = $state } -Script @'
$ErrorActionPreference = 'Stop'
& ./tools/Start-TestServices.ps1 -StateDirectory $env:WBL_STATE
[pscustomobject]@{ Registry = $env:WBL_TEST_REGISTRY; Docker = $env:WBL_TEST_DOCKER } | ConvertTo-Json -Compress
'@
        $started = ConvertFrom-FreshPwshJson $run
        $started.Docker | Should -BeExactly '1'
        @(Get-TestServiceRecord $state | ForEach-Object Name) | Should -Be @('registry') -Because 'the engine was already running'
        $registry = Get-TestServiceRecord $state
        Test-TestServiceRunning $registry | Should -BeTrue
        $started.Registry | Should -Not -BeExactly $env:WBL_TEST_REGISTRY -Because 'a registry with other credentials is not reused'

        & $StopScript -StateDirectory $state 6>$null

        Test-TestServiceRunning $registry | Should -BeFalse
        @(Get-TestServiceRecord $state) | Should -BeNullOrEmpty
        Get-ProcessIdsOf 'dockerd' | Should -Be $engineBefore
        & docker version --format '{{.Server.Version}}' *> $null
        $LASTEXITCODE | Should -Be 0 -Because 'the engine that was running still answers'
    }
}
