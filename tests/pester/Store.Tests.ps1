# Where the local store lives, how a session chooses it, what happens with a file that is not a store, and
# several processes writing to one store at once.
BeforeDiscovery {
    $script:NoPython = -not (Get-Command python3 -ErrorAction SilentlyContinue)
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    function Get-FileBytes([string] $Path) { [Convert]::ToBase64String([IO.File]::ReadAllBytes($Path)) }
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Choosing the local store' {
    It 'uses ~/.config/wandb/launch/launch.db when WANDB_LAUNCH_DB is unset' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_LAUNCH_DB = $null } -Script @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$q = New-WandbLaunchQueue -Name first -Resource local-process
$connection = Connect-WandbLaunch
[pscustomobject]@{ Store = $q.Store; Connected = $connection.Location; Names = @(Get-WandbLaunchQueue | ForEach-Object Name) } |
    ConvertTo-Json -Compress
'@
        $expected = Join-Path $home_ '.config/wandb/launch/launch.db'
        $result.Store | Should -BeExactly $expected
        $result.Connected | Should -BeExactly $expected
        $result.Names | Should -Be @('first')
        Test-Path $expected | Should -BeTrue
    }

    It 'expands ~ in WANDB_LAUNCH_DB to the home folder' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_LAUNCH_DB = '~/stores/team.db' } -Script @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
[pscustomobject]@{ Store = (New-WandbLaunchQueue -Name q -Resource local-process).Store } | ConvertTo-Json -Compress
'@
        $result.Store | Should -BeExactly (Join-Path $home_ 'stores/team.db')
        Test-Path (Join-Path $home_ 'stores/team.db') | Should -BeTrue
        Test-Path (Join-Path $home_ '.config/wandb/launch/launch.db') | Should -BeFalse
    }

    It 'honours WANDB_LAUNCH_DB, read afresh at every call' {
        $a = New-TestStore
        New-WandbLaunchQueue -Name in-a -Resource local-process | Out-Null
        $b = New-TestStore
        $q = New-WandbLaunchQueue -Name in-b -Resource local-process
        $q.Store | Should -BeExactly $b
        Test-Path $a | Should -BeTrue
        Test-Path $b | Should -BeTrue
        (Get-WandbLaunchQueue).Name | Should -Be @('in-b')
        $env:WANDB_LAUNCH_DB = $a
        (Get-WandbLaunchQueue).Name | Should -Be @('in-a')
        (Get-WandbLaunchQueue in-a).Store | Should -BeExactly $a
    }

    It 'creates the store and its folders where Connect-WandbLaunch -Path says, and reports the connection' {
        $dir = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ WANDB_LAUNCH_DB = "$dir/env.db"; WANDB_ENTITY = 'env-team' } -Script @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$dir = Split-Path $env:WANDB_LAUNCH_DB
$plain = Connect-WandbLaunch -Path "$dir/new/folder/launch.db"
$queue = New-WandbLaunchQueue -Name q -Resource local-process
$table = $plain | Format-Table | Out-String -Width 250
$withEntity = Connect-WandbLaunch "$dir/new/folder/launch.db" -Entity other-team
[pscustomobject]@{
    Plain = $plain; Table = $table; QueueEntity = $queue.Entity; WithEntity = $withEntity
    OtherTeamQueues = @(Get-WandbLaunchQueue | ForEach-Object Name)
    EnvTeamQueues = @(Get-WandbLaunchQueue -Entity env-team | ForEach-Object Name)
    EnvStoreCreated = Test-Path $env:WANDB_LAUNCH_DB
} | ConvertTo-Json -Compress -Depth 4
'@
        $result.Plain.Kind | Should -BeExactly 'Local'
        $result.Plain.Location | Should -BeExactly "$dir/new/folder/launch.db"
        $result.Plain.DefaultEntity | Should -BeExactly 'env-team'
        $result.Table | Should -Match 'Kind\s+DefaultEntity\s+Location'
        $result.Table | Should -Match "Local\s+env-team\s+$([regex]::Escape("$dir/new/folder/launch.db"))"
        $result.QueueEntity | Should -BeExactly 'env-team'
        $result.WithEntity.DefaultEntity | Should -BeExactly 'other-team'
        $result.OtherTeamQueues | Should -BeNullOrEmpty
        $result.EnvTeamQueues | Should -Be @('q')
        $result.EnvStoreCreated | Should -BeFalse
        Test-Path "$dir/new/folder/launch.db" | Should -BeTrue
    }

    It 'Get-WandbLaunchConnection shows the default store without creating it, then what Connect-WandbLaunch chose' {
        $dir = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ WANDB_LAUNCH_DB = "$dir/env.db"; WANDB_ENTITY = 'env-team' } -Script @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$dir = Split-Path $env:WANDB_LAUNCH_DB
$default = Get-WandbLaunchConnection
$defaultCreated = Test-Path $env:WANDB_LAUNCH_DB
$env:WANDB_LAUNCH_DB = "$dir/moved.db"
$moved = Get-WandbLaunchConnection
Connect-WandbLaunch -Path "$dir/chosen.db" -Entity chosen-team | Out-Null
$chosen = Get-WandbLaunchConnection
$env:WANDB_LAUNCH_DB = "$dir/ignored.db"
$table = Get-WandbLaunchConnection | Format-Table | Out-String -Width 250
[pscustomobject]@{
    Default = $default; DefaultCreated = $defaultCreated; Moved = $moved; Chosen = $chosen; Table = $table
    StillChosen = (Get-WandbLaunchConnection).Location
    TypeName = $chosen.GetType().FullName
} | ConvertTo-Json -Compress -Depth 4
'@
        $result.Default.Kind | Should -BeExactly 'Local'
        $result.Default.Location | Should -BeExactly "$dir/env.db"
        $result.Default.DefaultEntity | Should -BeExactly 'env-team'
        $result.DefaultCreated | Should -BeFalse -Because 'showing the connection does not open the store'
        $result.Moved.Location | Should -BeExactly "$dir/moved.db" -Because 'an unconnected session reads WANDB_LAUNCH_DB at every call'
        $result.Chosen.Location | Should -BeExactly "$dir/chosen.db"
        $result.Chosen.DefaultEntity | Should -BeExactly 'chosen-team'
        $result.StillChosen | Should -BeExactly "$dir/chosen.db"
        $result.TypeName | Should -BeExactly 'WandbLaunch.Connection.LaunchConnection'
        $result.Table | Should -Match "Local\s+chosen-team\s+$([regex]::Escape("$dir/chosen.db"))"
        Test-Path "$dir/ignored.db" | Should -BeFalse
        Test-Path "$dir/moved.db" | Should -BeFalse
    }
}

Describe 'A store file that is not a WandbLaunch store' {
    BeforeAll {
        $script:Commands = @(
            @{ Command = 'Get-WandbLaunchQueue'; Type = 'WandbLaunch.Queues.GetWandbLaunchQueueCommand'; Run = { Get-WandbLaunchQueue -ErrorAction Stop } }
            @{ Command = 'New-WandbLaunchQueue'; Type = 'WandbLaunch.Queues.NewWandbLaunchQueueCommand'; Run = { New-WandbLaunchQueue -Name q -Resource local-process -ErrorAction Stop } }
            @{ Command = 'Set-WandbLaunchQueue'; Type = 'WandbLaunch.Queues.SetWandbLaunchQueueCommand'; Run = { Set-WandbLaunchQueue q -Prioritization -ErrorAction Stop } }
            @{ Command = 'Remove-WandbLaunchQueue'; Type = 'WandbLaunch.Queues.RemoveWandbLaunchQueueCommand'; Run = { Remove-WandbLaunchQueue q -Confirm:$false -ErrorAction Stop } }
            @{ Command = 'Connect-WandbLaunch'; Type = 'WandbLaunch.Connection.ConnectWandbLaunchCommand'; Run = { Connect-WandbLaunch -Path $env:WANDB_LAUNCH_DB -ErrorAction Stop } }
        )

        function Assert-Refused([string] $Path, [string] $ErrorId) {
            $env:WANDB_LAUNCH_DB = $Path
            $bytes = Get-FileBytes $Path
            foreach ($c in $script:Commands) {
                $err = $c.Run | Should -Throw -ErrorId "$ErrorId,$($c.Type)" -PassThru -Because "$($c.Command) must name the problem"
                $err.TargetObject | Should -BeExactly $Path
                $err.CategoryInfo.Category | Should -Be 'InvalidData'
            }
            Get-FileBytes $Path | Should -BeExactly $bytes -Because 'the file must be left as it was'
            Get-ChildItem (Split-Path $Path) | ForEach-Object Name | Should -Be @(Split-Path $Path -Leaf) -Because 'no journal or WAL file may appear beside it'
        }
    }

    It 'refuses a text file with StoreNotDatabase from every command, and leaves its bytes unchanged' {
        $path = Join-Path (New-TestDirectory) 'launch.db'
        Set-Content $path "these are my notes, not a database`n"
        Assert-Refused $path 'StoreNotDatabase'
    }

    It 'refuses a binary file with StoreNotDatabase from every command, and leaves its bytes unchanged' {
        $path = Join-Path (New-TestDirectory) 'launch.db'
        $bytes = [byte[]]::new(8192)
        [Random]::new(42).NextBytes($bytes)
        [IO.File]::WriteAllBytes($path, $bytes)
        Assert-Refused $path 'StoreNotDatabase'
    }

    It "refuses another application's SQLite database with StoreNotLaunchDatabase, and leaves it unchanged" -Skip:$script:NoPython {
        $path = Join-Path (New-TestDirectory) 'launch.db'
        & python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"); c.execute("INSERT INTO notes (text) VALUES (''keep me'')"); c.commit(); c.close()' $path
        $LASTEXITCODE | Should -Be 0
        Assert-Refused $path 'StoreNotLaunchDatabase'
    }

    It 'leaves the session able to use a good store afterwards' {
        $bad = Join-Path (New-TestDirectory) 'launch.db'
        Set-Content $bad 'not a database'
        $env:WANDB_LAUNCH_DB = $bad
        Get-WandbLaunchQueue -ErrorAction SilentlyContinue
        New-TestStore | Out-Null
        (New-WandbLaunchQueue -Name fine -Resource local-process).Name | Should -BeExactly 'fine'
    }
}

Describe 'Several processes sharing one store' {
    It 'lets two pwsh processes create 50 queues each at the same time into a new store, losing none' {
        $store = New-TestStore
        $dir = Split-Path $store
        $script = @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$dir = Split-Path $env:WANDB_LAUNCH_DB
New-Item -ItemType File "$dir/ready-$env:WBL_WORKER" | Out-Null
# Start together: both processes have loaded the module before either touches the (not yet created) store.
$deadline = [DateTime]::UtcNow.AddSeconds(60)
while (-not (Test-Path "$dir/go")) {
    if ([DateTime]::UtcNow -gt $deadline) { throw 'no go signal' }
    Start-Sleep -Milliseconds 5
}
$watch = [Diagnostics.Stopwatch]::StartNew()
$created = foreach ($i in 1..50) {
    (New-WandbLaunchQueue -Name ("w$env:WBL_WORKER-{0:d2}" -f $i) -Resource local-process -Configuration ([ordered]@{ worker = $env:WBL_WORKER; i = $i })).Name
}
[pscustomobject]@{ Created = @($created).Count; Ms = $watch.ElapsedMilliseconds } | ConvertTo-Json -Compress
'@
        $workers = foreach ($id in 1, 2) {
            Start-FreshPwsh -Script $script -Environment @{ WANDB_LAUNCH_DB = $store; WBL_WORKER = "$id" }
        }
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not ((Test-Path "$dir/ready-1") -and (Test-Path "$dir/ready-2"))) {
                if ([DateTime]::UtcNow -gt $deadline) { throw 'the workers did not start' }
                Start-Sleep -Milliseconds 10
            }
            Test-Path $store | Should -BeFalse -Because 'the store is created by the racing workers'
            New-Item -ItemType File "$dir/go" | Out-Null
        }
        finally {
            $results = foreach ($w in $workers) { Wait-FreshPwsh -Handle $w -TimeoutSeconds 120 }
        }
        foreach ($r in $results) { (ConvertFrom-FreshPwshJson $r).Created | Should -Be 50 }

        $names = (Get-WandbLaunchQueue).Name
        $names.Count | Should -Be 100
        $expected = foreach ($id in 1, 2) { foreach ($i in 1..50) { "w$id-{0:d2}" -f $i } }
        $names | Should -Be ($expected | Sort-Object)
        (Get-WandbLaunchQueue w2-37).ConfigurationJson | Should -BeExactly '{"resource_args":{"local-process":{"worker":"2","i":37}}}'
    }
}
