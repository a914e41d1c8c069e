# Connect-WandbLaunch to a W&B server: where the key comes from, what a wrong key, an unknown entity or a missing
# key gives, and that the key never shows. The server here is a small scripted HttpListener in the child pwsh; the
# backend's semantics are tested against the stand-in server by the contract suite.
BeforeAll {
    . $PSScriptRoot/Common.ps1

    $script:ServerScript = @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$probe = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $probe.Start(); $port = $probe.LocalEndpoint.Port; $probe.Stop()
$listener = [Net.HttpListener]::new(); $listener.Prefixes.Add("http://127.0.0.1:$port/"); $listener.Start()
$server = Start-ThreadJob -ArgumentList $listener -ScriptBlock {
    param($listener)
    $good = 'Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('api:goodkey0123456789abcdef'))
    while ($listener.IsListening) {
        $context = $listener.GetContext()
        $body = [IO.StreamReader]::new($context.Request.InputStream).ReadToEnd()
        $status = 200
        if ($context.Request.Headers['Authorization'] -ne $good) { $status = 401; $reply = '{"errors":[{"message":"invalid api key"}]}' }
        elseif ($body -match 'EntityIsTeam' -and $body -match 'ghost') { $reply = '{"data":{"entity":null}}' }
        elseif ($body -match 'EntityIsTeam') { $reply = '{"data":{"entity":{"id":"RW50aXR5OjE=","isTeam":true}}}' }
        elseif ($body -match 'viewer') { $reply = '{"data":{"viewer":{"id":"VXNlcjox","entity":"alice","username":"alice-user"}}}' }
        else { $status = 400; $reply = '{"errors":[{"message":"unexpected"}]}' }
        $bytes = [Text.Encoding]::UTF8.GetBytes($reply)
        $context.Response.StatusCode = $status
        $context.Response.OutputStream.Write($bytes, 0, $bytes.Length)
        $context.Response.Close()
    }
}
$url = "http://127.0.0.1:$port"
# A failing script must still stop the listener, or the child waits for the server thread forever.
trap { $listener.Stop(); break }
function ErrorOf([scriptblock] $Block) {
    try { & $Block | Out-Null; 'no error' } catch { [pscustomobject]@{ Id = $_.FullyQualifiedErrorId; Text = "$_ $($_.ErrorDetails) $($_.ErrorDetails.RecommendedAction) $($_.Exception.ToString())" } }
}
'@
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Connect-WandbLaunch to a W&B server' {
    It 'checks the key with the server, shows kind, URL, entity and user, and never the key' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_API_KEY = $null; NETRC = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null } -Script ($ServerScript + @'
$secure = ConvertTo-SecureString 'goodkey0123456789abcdef' -AsPlainText -Force
$connected = Connect-WandbLaunch -BaseUrl $url -ApiKey $secure
$shown = Get-WandbLaunchConnection
$printed = ($connected | Format-List * | Out-String) + ($shown | Format-Table | Out-String -Width 250) + ($connected | ConvertTo-Json)
$team = Connect-WandbLaunch -BaseUrl $url -ApiKey 'goodkey0123456789abcdef' -Entity ml-team
[pscustomobject]@{ Connected = $connected; Shown = $shown; Team = $team; Leaks = $printed.Contains('goodkey') } | ConvertTo-Json -Compress -Depth 3
$listener.Stop()
'@)
        $result.Connected.Kind | Should -BeExactly 'Wandb'
        $result.Connected.Location | Should -Match '^http://127\.0\.0\.1:\d+$'
        $result.Connected.DefaultEntity | Should -BeExactly 'alice'
        $result.Connected.User | Should -BeExactly 'alice-user'
        $result.Shown.Kind | Should -BeExactly 'Wandb'
        $result.Shown.User | Should -BeExactly 'alice-user'
        $result.Team.DefaultEntity | Should -BeExactly 'ml-team'
        $result.Leaks | Should -BeFalse
    }

    It 'takes the key from WANDB_API_KEY, else from the netrc entry wandb login wrote for the host and port' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_API_KEY = $null; NETRC = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null } -Script ($ServerScript + @'
Set-Content -Path (Join-Path $HOME '.netrc') -Value "machine 127.0.0.1:$(([uri]$url).Port)`n  login user`n  password goodkey0123456789abcdef"
$fromNetrc = Connect-WandbLaunch -BaseUrl $url
$env:WANDB_API_KEY = 'wrongkey0123456789'
$envWins = ErrorOf { Connect-WandbLaunch -BaseUrl $url }
$env:WANDB_BASE_URL = $url
$env:WANDB_API_KEY = 'goodkey0123456789abcdef'
$fromEnv = Connect-WandbLaunch -Wandb
[pscustomobject]@{ FromNetrc = $fromNetrc.User; EnvWins = $envWins.Id; FromEnv = $fromEnv.Location } | ConvertTo-Json -Compress
$listener.Stop()
'@)
        $result.FromNetrc | Should -BeExactly 'alice-user'
        $result.EnvWins | Should -BeLike 'WandbAuthFailed,*'
        $result.FromEnv | Should -Match '^http://127\.0\.0\.1:\d+$'
    }

    It 'a wrong key, an unknown entity, no key and a malformed key give clear errors without the key' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_API_KEY = $null; NETRC = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null } -Script ($ServerScript + @'
$wrong = ErrorOf { Connect-WandbLaunch -BaseUrl $url -ApiKey 'wrongsecret0123456789' }
$ghost = ErrorOf { Connect-WandbLaunch -BaseUrl $url -ApiKey 'goodkey0123456789abcdef' -Entity ghost }
$none = ErrorOf { Connect-WandbLaunch -BaseUrl $url }
$bad = ErrorOf { Connect-WandbLaunch -BaseUrl $url -ApiKey "forged`nX-Header: secretpart" }
$after = Get-WandbLaunchConnection
[pscustomobject]@{ Wrong = $wrong; Ghost = $ghost; None = $none; Bad = $bad; StillLocal = $after.Kind } | ConvertTo-Json -Compress -Depth 3
$listener.Stop()
'@)
        $result.Wrong.Id | Should -BeLike 'WandbAuthFailed,*'
        $result.Wrong.Text | Should -Match 'WANDB_API_KEY'
        $result.Wrong.Text | Should -Not -Match 'wrongsecret'
        $result.Ghost.Id | Should -BeLike 'WandbEntityNotFound,*'
        $result.Ghost.Text | Should -Match 'ghost'
        $result.None.Id | Should -BeLike 'WandbApiKeyMissing,*'
        $result.None.Text | Should -Match 'wandb login'
        $result.Bad.Id | Should -BeLike 'WandbApiKeyInvalid,*'
        $result.Bad.Text | Should -Not -Match 'secretpart'
        $result.StillLocal | Should -BeExactly 'Local'
    }
}
