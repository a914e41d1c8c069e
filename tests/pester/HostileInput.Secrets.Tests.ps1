# Hostile input: secrets in previews, logs, errors and the store; file permissions; control characters in what is printed.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force
    $script:store = New-TestStore
    $script:storeDir = Split-Path $store
    $script:code = New-TestDirectory
    Set-Content (Join-Path $code 'train.py') 'print("hi")'
    $script:key = 'wbl-hostile-secret-key-5678'
    $script:esc = [char]27
    # Each queue puts the key, through the ${WANDB_API_KEY} macro, inside a longer value.
    New-WandbLaunchQueue -Name sproc -Resource local-process -Configuration @{ env = @{ TOKEN = 'abc${WANDB_API_KEY}xyz' } } | Out-Null
    New-WandbLaunchQueue -Name sbox -Resource local-container -Configuration @{ env = @('TOKEN=abc${WANDB_API_KEY}xyz') } | Out-Null
    New-WandbLaunchQueue -Name sk8s -Resource kubernetes -Configuration @{
        spec = @{ template = @{ spec = @{ containers = @(@{ args = @('--token=abc${WANDB_API_KEY}xyz'); env = @(@{ name = 'TOKEN'; value = 'Bearer ${WANDB_API_KEY}' }) }) } } }
    } | Out-Null
    $script:previewCases = @(
        @{ Queue = 'sproc'; Source = @{ Uri = $code; EntryPoint = 'python3', 'train.py' } }
        @{ Queue = 'sbox'; Source = @{ DockerImage = 'registry.example.com/team/train:1' } }
        @{ Queue = 'sk8s'; Source = @{ DockerImage = 'registry.example.com/team/train:1' } }
    )

    function Get-Mode([string] $Path) { (& stat -c %a $Path).Trim() }
}

AfterAll {
    $env:WANDB_API_KEY = $null
    Remove-TestDirectories
}

Describe 'Secrets never shown' {
    BeforeEach { $env:WANDB_API_KEY = $key }
    AfterEach { $env:WANDB_API_KEY = $null }

    It 'Get-WandbLaunchJobManifest on <Queue> masks the key inside longer values, in output and verbose' -ForEach @(
        @{ Queue = 'sproc' }, @{ Queue = 'sbox' }, @{ Queue = 'sk8s' }
    ) {
        $case = $previewCases | Where-Object Queue -EQ $Queue
        $source = $case.Source
        $all = Get-WandbLaunchJobManifest -Queue $Queue @source -Verbose *>&1
        $text = ($all | ForEach-Object { if ($_ -is [string]) { $_ } else { $_ | Out-String; $_.Text; $_.Summary; $_.Message } }) -join "`n"
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match $key
        $text | Should -Match 'abc\*\*\*xyz' -Because 'the rest of the value is still shown'
    }

    It 'Submit-WandbLaunchJob -WhatIf on <Queue> prints no key and stores nothing' -ForEach @(
        @{ Queue = 'sproc'; SubmitArgs = "-Uri '<code>' -EntryPoint python3, train.py" }
        @{ Queue = 'sbox'; SubmitArgs = '-DockerImage registry.example.com/team/train:1' }
        @{ Queue = 'sk8s'; SubmitArgs = '-DockerImage registry.example.com/team/train:1' }
    ) {
        $run = Invoke-FreshPwsh -Environment @{ WANDB_API_KEY = $key; WANDB_LAUNCH_DB = $store } -Script @"
Import-Module `$env:WBL_MODULE
`$PSStyle.OutputRendering = 'PlainText'
`$before = @(Get-WandbLaunchJob).Count
Submit-WandbLaunchJob -Queue $Queue $($SubmitArgs.Replace('<code>', $code)) -WhatIf -Verbose *>&1 | Out-String -Width 400
"stored: `$(@(Get-WandbLaunchJob).Count - `$before)"
"@
        $output = $run.Output -join "`n"
        $output | Should -Match 'What an agent would run'
        $output | Should -Match 'abc\*\*\*xyz'
        $output | Should -Not -Match $key
        $output | Should -Match 'stored: 0'
    }

    It 'keeps the key out of the stored job, its log, its failure message and the agent''s events' {
        $job = Submit-WandbLaunchJob -Queue sproc -Uri $code -EntryPoint /bin/sh, -c, 'echo "token $TOKEN"; echo "key $WANDB_API_KEY" >&2; exit 3'
        $agent = Start-TestAgent -Queue sproc
        try {
            $ended = $job | Wait-WandbLaunchJob -Timeout 60
            $ended.State | Should -Be 'Failed'
            ($ended | ConvertTo-Json -Depth 10) | Should -Not -Match $key
            $ended.FailureMessage | Should -Match '\*\*\*'
            $log = (Get-WandbLaunchJobLog -Id $job.Id) -join "`n"
            $log | Should -Match 'token abc\*\*\*xyz'
            $log | Should -Match 'key \*\*\*'
            $log | Should -Not -Match $key
            (Get-Content -Raw $ended.LogPath) | Should -Not -Match $key
        }
        finally {
            $events = @($agent.Warning | ForEach-Object Message) + @($agent.Information | ForEach-Object { "$($_.MessageData)" }) + @($agent.Error | ForEach-Object { "$_" })
            Stop-TestAgent $agent
        }
        ($events -join "`n") | Should -Not -Match $key
    }
}

Describe 'Files the module owns are private' -Skip:$IsWindows {
    It 'creates the store, its -wal and -shm 0600 and the logs and work directories 0700' {
        $env:WANDB_API_KEY = $null
        $job = Submit-WandbLaunchJob -Queue sproc -Uri $code -EntryPoint /bin/sh, -c, 'echo private'
        $agent = Start-TestAgent -Queue sproc
        try { $ended = $job | Wait-WandbLaunchJob -Timeout 60 } finally { Stop-TestAgent $agent }
        $ended.State | Should -Be 'Finished'
        Get-Mode $store | Should -Be '600'
        foreach ($suffix in '-wal', '-shm') {
            if (Test-Path "$store$suffix") { Get-Mode "$store$suffix" | Should -Be '600' -Because "$suffix is the store's too" }
        }
        Get-Mode (Join-Path $storeDir 'logs') | Should -Be '700'
        Get-Mode $ended.LogPath | Should -Be '600'
        Get-Mode (Join-Path $storeDir 'runs') | Should -Be '700'
    }

    It 'creates a new store''s folders 0700, keeps -wal and -shm 0600 while open, and tightens a store made 0644 when it is opened' {
        $db = Join-Path (New-TestDirectory) 'nested/deeper/launch.db'
        $run = Invoke-FreshPwsh -Environment @{ WANDB_LAUNCH_DB = $db } -Script @'
Import-Module $env:WBL_MODULE
New-WandbLaunchQueue -Name q -Resource local-process | Out-Null
foreach ($f in $env:WANDB_LAUNCH_DB, "$($env:WANDB_LAUNCH_DB)-wal", "$($env:WANDB_LAUNCH_DB)-shm") { if (Test-Path $f) { "$(Split-Path -Leaf $f)=$((stat -c %a $f).Trim())" } }
'@
        $run.ExitCode | Should -Be 0 -Because ($run.Output -join "`n")
        $run.Output | Should -Contain 'launch.db=600'
        $run.Output | Should -Contain 'launch.db-wal=600'
        $run.Output | Should -Contain 'launch.db-shm=600'
        Get-Mode (Split-Path $db) | Should -Be '700'
        Get-Mode (Split-Path (Split-Path $db)) | Should -Be '700'

        & chmod 644 $db
        Get-Mode $db | Should -Be '644'
        $again = Invoke-FreshPwsh -Environment @{ WANDB_LAUNCH_DB = $db } -Script 'Import-Module $env:WBL_MODULE; (Get-WandbLaunchQueue q).Name'
        $again.Output | Should -Contain 'q'
        Get-Mode $db | Should -Be '600'
    }
}

Describe 'Control characters are printed escaped' {
    It 'Get-WandbLaunchJobLog escapes a job''s escape sequences unless -Raw, and the agent''s warning about it is escaped' {
        $job = Submit-WandbLaunchJob -Queue sproc -Uri $code -EntryPoint /bin/sh, -c, 'printf "\033[31mred\033[0m\tcell\n\033]0;title\007\n"; exit 4'
        $agent = Start-TestAgent -Queue sproc
        try {
            $ended = $job | Wait-WandbLaunchJob -Timeout 60
            $ended.State | Should -Be 'Failed'
            Wait-Until { @($agent.Warning).Count -gt 0 } -TimeoutSeconds 10 -Because 'the agent warns that the job failed'
            $warnings = @($agent.Warning | ForEach-Object Message) -join "`n"
        }
        finally { Stop-TestAgent $agent }

        $shown = Get-WandbLaunchJobLog -Id $job.Id
        # Checked with Contains, not -Match: a failure message holding ESC would break the test report.
        ($shown -join "`n").Contains($esc) | Should -BeFalse -Because 'no raw ESC reaches the console'
        $shown | Should -Contain '\e[31mred\e[0m	cell' -Because 'ESC is written \e and tabs are kept'
        $shown | Should -Contain '\e]0;title\x07'
        $raw = Get-WandbLaunchJobLog -Id $job.Id -Raw
        $raw -contains "$esc[31mred$esc[0m`tcell" | Should -BeTrue -Because '-Raw writes the line as the job wrote it'
        (Get-Content -Raw $ended.LogPath).Contains("$esc[31mred") | Should -BeTrue -Because 'the file keeps what the job wrote'

        $ended.FailureMessage.Contains($esc) | Should -BeFalse -Because 'the agent records the job''s output it quotes escaped'
        $ended.FailureMessage | Should -Match ([regex]::Escape('\e]0;title\x07'))
        $warnings | Should -Match ([regex]::Escape($job.Id))
        $warnings | Should -Match ([regex]::Escape('\e]0;title\x07')) -Because 'the failure names the job''s last output line'
        $warnings.Contains($esc) | Should -BeFalse
        $warnings.Contains([string][char]7) | Should -BeFalse
    }

    It 'Get-WandbLaunchQueue and Get-WandbLaunchJob show values stored by an older version escaped' -Skip:(-not (Get-Command python3 -ErrorAction Ignore)) {
        New-WandbLaunchQueue -Name sold -Resource local-process | Out-Null
        $job = Submit-WandbLaunchJob -Queue sold -Uri $code -EntryPoint python3, train.py
        # Written straight into the store, as an older version without validation could have left them.
        & python3 -c @"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE items SET failure_message = 'old' || char(27) || '[2Jfailure' || char(10) || 'second', failure_stage = 'run' WHERE id = ?", (sys.argv[2],))
db.execute("UPDATE queues SET name = 'sold' || char(27) || '[31mred' WHERE name = 'sold'")
db.commit()
"@ $store $job.Id
        $LASTEXITCODE | Should -Be 0
        $queues = Get-WandbLaunchQueue | Format-Table | Out-String -Width 300
        $queues.Contains($esc) | Should -BeFalse
        $queues | Should -Match ([regex]::Escape('sold\e[31mred'))
        $shown = Get-WandbLaunchJob -Id $job.Id
        foreach ($view in ($shown | Format-Table | Out-String -Width 300), ($shown | Format-List | Out-String -Width 300)) {
            $view.Contains($esc) | Should -BeFalse
            $view | Should -Match ([regex]::Escape('old\e[2Jfailure'))
            $view | Should -Match ([regex]::Escape('sold\e[31mred'))
        }
    }

    It 'an error naming a queue with an escape sequence shows it escaped' {
        $err = $null
        try { Start-WandbLaunchAgent -Queue "evil$esc[2Jq" -AsJob -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $shown = if ($err.ErrorDetails) { $err.ErrorDetails.Message } else { $err.Exception.Message }
        $shown.Contains($esc) | Should -BeFalse
        $shown | Should -Match ([regex]::Escape('evil\e[2Jq'))
    }
}
