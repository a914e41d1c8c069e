# -Verbose and -Debug on every cmdlet: what the engine does, written on the pipeline thread as it happens, prefixed
# with its source, escaped, and nothing at all when not asked.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    $script:SavedEntity = $env:WANDB_ENTITY
    $env:WANDB_ENTITY = 'diag-team'
    $script:Store = New-TestStore
    $script:Code = New-TestDirectory
    Set-Content -Path (Join-Path $script:Code 'main.py') -Value 'print("hi")'
    $script:Config = Join-Path (New-TestDirectory) 'launch-config.yaml'
    New-WandbLaunchAgentConfig -Path $script:Config -Queue q1 -BuilderType noop | Out-Null
    New-WandbLaunchQueue -Name q1 -Resource local-process | Out-Null
    $script:Serial = 0

    function New-PendingJob {
        Submit-WandbLaunchJob -Queue q1 -Uri $script:Code -EntryPoint python, main.py -Verbose:$false -Debug:$false
    }

    # The cheapest valid call of each exported cmdlet on the test store; each may be run several times.
    $script:Calls = [ordered]@{
        'Get-WandbLaunchQueue'        = { param($s) Get-WandbLaunchQueue @s }
        'New-WandbLaunchQueue'        = { param($s) New-WandbLaunchQueue -Name "n$((++$script:Serial))" -Resource local-process @s }
        'Set-WandbLaunchQueue'        = { param($s) Set-WandbLaunchQueue -Name q1 -Prioritization @s }
        'Remove-WandbLaunchQueue'     = { param($s) New-WandbLaunchQueue -Name "r$((++$script:Serial))" -Resource local-process | Remove-WandbLaunchQueue -Confirm:$false @s }
        'Submit-WandbLaunchJob'       = { param($s) Submit-WandbLaunchJob -Queue q1 -Uri $script:Code -EntryPoint python, main.py @s }
        'Get-WandbLaunchJob'          = { param($s) Get-WandbLaunchJob -Queue q1 @s }
        'Wait-WandbLaunchJob'         = { param($s) New-PendingJob | Wait-WandbLaunchJob -Timeout 0 -ErrorAction SilentlyContinue @s }
        'Stop-WandbLaunchJob'         = { param($s) New-PendingJob | Stop-WandbLaunchJob @s }
        'Remove-WandbLaunchJob'       = { param($s) New-PendingJob | Stop-WandbLaunchJob -PassThru | Remove-WandbLaunchJob -Confirm:$false @s }
        # A pending job: the cmdlet writes a Verbose note of its own, which must not turn into a prompt under -Debug.
        'Get-WandbLaunchJobLog'       = { param($s) New-PendingJob | Get-WandbLaunchJobLog @s }
        'Get-WandbLaunchJobManifest'  = { param($s) Get-WandbLaunchJobManifest -Queue q1 -Uri $script:Code -EntryPoint python, main.py -ConfigPath $script:Config @s }
        'Invoke-WandbLaunchJob'       = { param($s) Invoke-WandbLaunchJob -Resource local-process -Uri $script:Code -EntryPoint python, main.py -ConfigPath $script:Config -WhatIf @s }
        'Start-WandbLaunchAgent'      = { param($s) Start-WandbLaunchAgent -Queue q1 -ConfigPath $script:Config -WhatIf @s }
        'Get-WandbLaunchAgent'        = { param($s) Get-WandbLaunchAgent @s }
        'Stop-WandbLaunchAgent'       = { param($s) Stop-WandbLaunchAgent -Name 'no-such-agent*' @s }
        'Get-WandbLaunchAgentConfig'  = { param($s) Get-WandbLaunchAgentConfig -Path $script:Config @s }
        'New-WandbLaunchAgentConfig'  = { param($s) New-WandbLaunchAgentConfig -Path (Join-Path (New-TestDirectory) 'c.yaml') -Queue q1 @s }
        'Set-WandbLaunchAgentConfig'  = { param($s) Set-WandbLaunchAgentConfig -Path $script:Config -MaxJobs 2 @s }
        'Test-WandbLaunchAgentConfig' = { param($s) Test-WandbLaunchAgentConfig -Path $script:Config @s }
        'Get-WandbLaunchConnection'   = { param($s) Get-WandbLaunchConnection @s }
        'New-WandbLaunchJobArtifact'  = { param($s) New-WandbLaunchJobArtifact -Path $script:Code -EntryPoint python, main.py -Project diag -Name "job-diag$((++$script:Serial))" @s }
        'Get-WandbLaunchJobArtifact'  = { param($s) Get-WandbLaunchJobArtifact -Project diag @s }
    }
    # Connect-WandbLaunch binds the whole session to a store, so it runs in a pwsh of its own (see below).
    $script:InOwnSession = @('Connect-WandbLaunch')
    # The agent config cmdlets use no store; they say which file they read or wrote.
    $script:ConfigCmdlets = @('Get-WandbLaunchAgentConfig', 'New-WandbLaunchAgentConfig', 'Set-WandbLaunchAgentConfig', 'Test-WandbLaunchAgentConfig')

    function Invoke-Captured {
        <# Runs a call with the given switches and returns the Verbose and Debug records it wrote. #>
        param([string] $Name, [hashtable] $Switches = @{})
        $records = & $script:Calls[$Name] $Switches 4>&1 5>&1 6>$null
        @($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -or $_ -is [System.Management.Automation.DebugRecord] })
    }

    function Get-Messages([object[]] $Records, [type] $Type) {
        @($Records | Where-Object { $_ -is $Type } | ForEach-Object Message)
    }
}

AfterAll {
    $env:WANDB_ENTITY = $script:SavedEntity
    Remove-TestDirectories
}

Describe 'Every cmdlet takes part' {
    It 'has a call here for every exported cmdlet' {
        $exported = (Get-Command -Module WandbLaunch -CommandType Cmdlet).Name | Sort-Object
        $covered = @($script:Calls.Keys) + $script:InOwnSession | Sort-Object
        $covered | Should -Be $exported
    }
}

Describe '-Verbose' {
    It '<_> -Verbose says which store (or config file) it uses' -ForEach @(
        'Get-WandbLaunchQueue', 'New-WandbLaunchQueue', 'Set-WandbLaunchQueue', 'Remove-WandbLaunchQueue', 'Submit-WandbLaunchJob',
        'Get-WandbLaunchJob', 'Wait-WandbLaunchJob', 'Stop-WandbLaunchJob', 'Remove-WandbLaunchJob', 'Get-WandbLaunchJobLog',
        'Get-WandbLaunchJobManifest', 'Start-WandbLaunchAgent', 'Get-WandbLaunchAgent', 'Stop-WandbLaunchAgent',
        'Get-WandbLaunchAgentConfig', 'New-WandbLaunchAgentConfig', 'Set-WandbLaunchAgentConfig', 'Test-WandbLaunchAgentConfig', 'Get-WandbLaunchConnection',
        'New-WandbLaunchJobArtifact', 'Get-WandbLaunchJobArtifact') {
        $verbose = Get-Messages (Invoke-Captured $_ @{ Verbose = $true }) ([System.Management.Automation.VerboseRecord])
        if ($_ -in $script:ConfigCmdlets) {
            @($verbose | Where-Object { $_ -match "^config: (reading|wrote) '" }).Count | Should -BeGreaterThan 0
        }
        else {
            $verbose | Should -Contain "store: local store '$script:Store' (from WANDB_LAUNCH_DB), default entity 'diag-team'"
        }
    }

    It '<_> writes no Verbose or Debug record when neither is asked for' -ForEach @(
        'Get-WandbLaunchQueue', 'New-WandbLaunchQueue', 'Set-WandbLaunchQueue', 'Remove-WandbLaunchQueue', 'Submit-WandbLaunchJob',
        'Get-WandbLaunchJob', 'Wait-WandbLaunchJob', 'Stop-WandbLaunchJob', 'Remove-WandbLaunchJob', 'Get-WandbLaunchJobLog',
        'Get-WandbLaunchJobManifest', 'Get-WandbLaunchAgent', 'Stop-WandbLaunchAgent',
        'Get-WandbLaunchAgentConfig', 'New-WandbLaunchAgentConfig', 'Set-WandbLaunchAgentConfig', 'Test-WandbLaunchAgentConfig', 'Get-WandbLaunchConnection',
        'New-WandbLaunchJobArtifact', 'Get-WandbLaunchJobArtifact') {
        Invoke-Captured $_ | Should -BeNullOrEmpty
    }

    It 'follows $VerbosePreference when -Verbose is not given, and -Verbose:$false overrides it' {
        $VerbosePreference = 'Continue'
        $records = Get-WandbLaunchQueue 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        @($records).Count | Should -BeGreaterThan 0
        $none = Get-WandbLaunchQueue -Verbose:$false 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        $none | Should -BeNullOrEmpty
    }

    It 'Wait-WandbLaunchJob says what it waits for and when it gives up' {
        $job = New-PendingJob
        $verbose = Get-Messages (Wait-WandbLaunchJob -Id $job.Id -Timeout 1 -Verbose -ErrorAction SilentlyContinue 4>&1) ([System.Management.Automation.VerboseRecord])
        $verbose | Should -Contain "watch: waiting for job $($job.Id) to end (Finished, Failed or Stopped), at most 1 s"
        $verbose | Should -Contain "watch: gave up after 1 s: job $($job.Id) still not ended"
    }

    It 'each cmdlet in a pipeline reports its own work only' {
        $records = Get-WandbLaunchQueue q1 | Get-WandbLaunchJob -Verbose 4>&1 5>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -or $_ -is [System.Management.Automation.DebugRecord] }
        # Get-WandbLaunchQueue was not asked: its reads do not show under Get-WandbLaunchJob's -Verbose.
        @($records | Where-Object { $_ -is [System.Management.Automation.DebugRecord] }) | Should -BeNullOrEmpty
        @($records).Count | Should -BeGreaterThan 0
    }
}

Describe '-Debug' {
    It '<_> -Debug adds the store reads and writes and their SQL' -ForEach @(
        'Get-WandbLaunchQueue', 'New-WandbLaunchQueue', 'Set-WandbLaunchQueue', 'Remove-WandbLaunchQueue', 'Submit-WandbLaunchJob',
        'Get-WandbLaunchJob', 'Wait-WandbLaunchJob', 'Stop-WandbLaunchJob', 'Remove-WandbLaunchJob', 'Get-WandbLaunchJobLog',
        'Get-WandbLaunchJobManifest', 'Start-WandbLaunchAgent', 'Get-WandbLaunchAgent', 'Stop-WandbLaunchAgent') {
        $records = Invoke-Captured $_ @{ Debug = $true }
        $debug = Get-Messages $records ([System.Management.Automation.DebugRecord])
        @($debug | Where-Object { $_ -match '^store: (read|write) [A-Za-z]+ \(\d+\.\d ms\)$' }).Count | Should -BeGreaterThan 0
        @($debug | Where-Object { $_ -match '^store: SQL (SELECT|INSERT|UPDATE|DELETE) ' }).Count | Should -BeGreaterThan 0
        # -Debug alone does not turn on Verbose.
        Get-Messages $records ([System.Management.Automation.VerboseRecord]) | Should -BeNullOrEmpty
    }

    It '-Debug without -Verbose never prompts in a non-interactive pwsh (a cmdlet that writes a Verbose note of its own)' {
        $result = Invoke-FreshPwsh -Environment @{ WANDB_LAUNCH_DB = (Join-Path (New-TestDirectory) 'launch.db') } -Script @'
Import-Module $env:WBL_MODULE
New-WandbLaunchQueue -Name q -Resource local-process | Out-Null
$job = Submit-WandbLaunchJob -Queue q -Uri $PWD -EntryPoint true
$records = Get-WandbLaunchJobLog -Id $job.Id -Debug -ErrorAction Stop 4>&1 5>&1
'debug records: ' + @($records | Where-Object { $_ -is [System.Management.Automation.DebugRecord] }).Count
'verbose records: ' + @($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Count
'@
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $result.StdOut | Should -Contain 'verbose records: 0'
        @($result.StdOut | Where-Object { $_ -match '^debug records: [1-9]' }).Count | Should -Be 1
    }

    It 'messages reported on thread-pool threads during a wait reach the pipeline, each poll as it happens' {
        $job = New-PendingJob
        $started = [DateTime]::UtcNow
        $records = Wait-WandbLaunchJob -Id $job.Id -Timeout 2 -Debug -ErrorAction SilentlyContinue 5>&1 |
            Where-Object { $_ -is [System.Management.Automation.DebugRecord] }
        $polls = @($records | Where-Object Message -Match '^watch: (no store change within \d+ ms: reading again|woken by a store change after \d+ ms)$')
        $polls.Count | Should -BeGreaterOrEqual 2
        @($records | Where-Object Message -Match "^watch: read 1 job\(s\): $($job.Id) Pending$").Count | Should -BeGreaterOrEqual 2
        ([DateTime]::UtcNow - $started).TotalSeconds | Should -BeLessThan 30
    }
}

Describe 'Hostile values and secrets' {
    It 'escapes control characters in what it reports (a store path with an escape sequence)' {
        $dir = New-TestDirectory
        $result = Invoke-FreshPwsh -Environment @{ WANDB_ENTITY = "team`e]0;pwned`a" } -Script @"
Import-Module `$env:WBL_MODULE
`$path = Join-Path '$dir' "st`$([char]27)[31mre.db"
Connect-WandbLaunch -Path `$path -Verbose 4>&1 | Where-Object { `$_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object {
    'V ' + ([string]`$_.Message).Replace([string][char]27, '<ESC>').Replace([string][char]7, '<BEL>')
}
Get-WandbLaunchQueue -Verbose 4>&1 | Where-Object { `$_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object {
    'V ' + ([string]`$_.Message).Replace([string][char]27, '<ESC>').Replace([string][char]7, '<BEL>')
}
"@
        $result.ExitCode | Should -Be 0
        $lines = @($result.StdOut | Where-Object { $_ -like 'V *' })
        $lines | Should -Contain "V store: created a new store at '$dir/st\e[31mre.db' (schema version 3)"
        $lines | Should -Contain "V store: local store '$dir/st\e[31mre.db' is open"
        $lines | Should -Contain "V store: local store '$dir/st\e[31mre.db' (chosen by Connect-WandbLaunch), default entity 'team\e]0;pwned\x07'"
        $lines | Should -Not -Match '<ESC>|<BEL>'
    }

    It 'shows no secret in -Verbose/-Debug output: a failing registry login with a password from the Docker config' {
        # The registry client behind builds and pushes, reached through the agent's docker builder: covered with a
        # stand-in registry by RegistryDiagnosticsTests (xunit), which needs no Docker engine. Here: the variables that
        # hold secrets never reach a message of a cmdlet that reads the environment (Get-WandbLaunchJobManifest).
        $secret = 'diag-Secret-' + [guid]::NewGuid().ToString('n')
        $env:WANDB_API_KEY = $secret
        try {
            $records = Get-WandbLaunchJobManifest -Queue q1 -Uri $script:Code -EntryPoint python, main.py -ConfigPath $script:Config -Verbose -Debug 4>&1 5>&1
            ($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -or $_ -is [System.Management.Automation.DebugRecord] } |
                ForEach-Object Message) -join "`n" | Should -Not -Match ([regex]::Escape($secret))
        }
        finally {
            $env:WANDB_API_KEY = $null
        }
    }
}
